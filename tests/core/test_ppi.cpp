// Pixel purity index: on a noise-free scene every skewer's extremes are pure pixels.
#include "core/classical/ppi.h"

#include <limits>

#include "core/errors.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

TEST(Ppi, CountsLandOnThePurePixels) {
  SyntheticOptions o;
  o.width = o.height = 32;
  o.bands = 40;
  o.endmembers = 4;
  o.snrDb = std::numeric_limits<double>::infinity();
  o.seed = 5;
  const SyntheticScene s = generateSyntheticScene(o);
  const int64_t n = int64_t(s.width) * s.height;
  std::vector<float> scene = s.scene;
  for (int b = 0; b < s.bands; ++b) scene[b * n + 7] = std::numeric_limits<float>::quiet_NaN();
  MatrixPixelSource source(scene, s.bands, n);
  PpiOptions po;
  po.skewers = 300;
  const PpiResult r = pixelPurityIndex(source, po);
  EXPECT_EQ(r.dimensions, 4);  // HySime finds P
  EXPECT_EQ(r.counts[7], -1);  // nodata
  int64_t total = 0, onPure = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (r.counts[i] <= 0) continue;
    total += r.counts[i];
    double largest = 0;
    for (int q = 0; q < 4; ++q) largest = std::max(largest, double(s.abundances[q * n + i]));
    if (largest > 0.999) onPure += r.counts[i];
  }
  EXPECT_EQ(total, 600);
  EXPECT_EQ(onPure, total);
  po.dimensions = 40;
  test::expectThrowWith<InvalidArgument>([&] { pixelPurityIndex(source, po); }, {"dimensions"});
}

}  // namespace
}  // namespace dequnmix
