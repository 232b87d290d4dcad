// Endmember-count estimators on synthetic scenes of known P, and on exact small problems.
#include "core/classical/endmember_count.h"

#include <cstdio>

#include "core/errors.h"
#include "core/pixel_source.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

BandMoments momentsOf(const SyntheticScene& s) {
  MatrixPixelSource source(s.scene, s.bands, int64_t(s.width) * s.height);
  return bandMoments(source);
}

SyntheticScene scene(int endmembers, double snrDb, uint64_t seed) {
  SyntheticOptions o;
  o.width = o.height = 64;
  o.bands = 100;
  o.endmembers = endmembers;
  o.snrDb = snrDb;
  o.purePixels = true;
  o.seed = seed;
  return generateSyntheticScene(o);
}

// The grid of issue 12: P = 3 to 10 at 20 and 30 dB, two scenes each. Printed: how often
// each method is exact and within one.
TEST(EndmemberCount, SyntheticGridOfKnownP) {
  int exact[3] = {0, 0, 0}, withinOne[3] = {0, 0, 0}, total = 0;
  for (double snr : {20.0, 30.0})
    for (int P = 3; P <= 10; ++P)
      for (uint64_t seed : {1u, 2u}) {
        const EndmemberCountEstimate e = estimateEndmemberCount(momentsOf(scene(P, snr, seed)));
        const int found[3] = {e.hysime, e.hfc, e.nwhfc};
        std::printf("P %2d %2.0f dB seed %llu: HySime %2d HFC %2d NWHFC %2d\n", P, snr,
                    (unsigned long long)seed, e.hysime, e.hfc, e.nwhfc);
        for (int k = 0; k < 3; ++k) {
          exact[k] += found[k] == P;
          withinOne[k] += std::abs(found[k] - P) <= 1;
        }
        ++total;
      }
  const char* names[3] = {"HySime", "HFC", "NWHFC"};
  for (int k = 0; k < 3; ++k)
    std::printf("%s: exact %d of %d, within one %d of %d\n", names[k], exact[k], total,
                withinOne[k], total);
  // Measured (2026-12-01): HySime exact 26 of 32 and within one 32 of 32; HFC 12 and 23;
  // NWHFC 8 and 22 (both underestimate as P grows). Asserted with a margin below that.
  EXPECT_GE(exact[0], total * 3 / 4);
  EXPECT_EQ(withinOne[0], total);
  EXPECT_GE(withinOne[1], total * 3 / 5);
  EXPECT_GE(withinOne[2], total * 3 / 5);
}

TEST(EndmemberCount, NamesOptionsAndBadInput) {
  EXPECT_EQ(parseEndmemberCountMethod("nwhfc"), EndmemberCountMethod::NwHfc);
  test::expectThrowWith<InvalidArgument>([] { parseEndmemberCountMethod("vd"); },
                                         {"'vd'", "hysime, hfc or nwhfc"});
  EndmemberCountOptions o;
  o.falseAlarm = 0.7;
  test::expectThrowWith<InvalidArgument>([&] { o.validate(); }, {"false-alarm", "0.7"});
  BandMoments empty;
  empty.bands = 5;
  test::expectThrowWith<InvalidArgument>([&] { estimateEndmemberCount(empty); },
                                         {"at least 2 bands and 2"});
}

}  // namespace
}  // namespace dequnmix
