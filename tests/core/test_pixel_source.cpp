#include "core/errors.h"
#include "core/pixel_source.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

TEST(MatrixPixelSource, VisitsValidPixelsInOrderPixelMajor) {
  const int bands = 3;
  const int64_t pixels = 10;
  std::vector<float> v(bands * pixels);
  for (int b = 0; b < bands; ++b)
    for (int64_t i = 0; i < pixels; ++i) v[b * pixels + i] = static_cast<float>(100 * b + i);
  v[1 * pixels + 4] = std::numeric_limits<float>::quiet_NaN();  // pixel 4 nodata in band 1
  v[2 * pixels + 7] = std::numeric_limits<float>::infinity();   // pixel 7 not finite
  MatrixPixelSource src(v, bands, pixels, /*blockPixels=*/3);
  EXPECT_EQ(src.bands(), 3);
  EXPECT_EQ(src.gridPixelCount(), 10);
  for (int pass = 0; pass < 2; ++pass) {  // repeatable
    std::vector<int64_t> seen;
    int blocks = 0;
    test::RecordingSink sink;
    src.scan(
        [&](const PixelBlock& block) {
          ++blocks;
          EXPECT_LE(block.count, 3);
          for (int64_t k = 0; k < block.count; ++k) {
            const int64_t i = block.indices[k];
            seen.push_back(i);
            for (int b = 0; b < bands; ++b) EXPECT_EQ(block.values[k * bands + b], 100 * b + i);
          }
        },
        &sink);
    EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 5, 6, 8, 9}));
    EXPECT_EQ(blocks, 4);
    ASSERT_FALSE(sink.reports.empty());
    EXPECT_DOUBLE_EQ(sink.reports.back(), 1.0);
    EXPECT_TRUE(std::is_sorted(sink.reports.begin(), sink.reports.end()));
  }
}

TEST(MatrixPixelSource, CancelStopsBetweenBlocks) {
  MatrixPixelSource src(std::vector<float>(2 * 100, 1.0f), 2, 100, 10);
  test::RecordingSink sink(/*cancelAfter=*/3);
  int blocks = 0;
  EXPECT_THROW(src.scan([&](const PixelBlock&) { ++blocks; }, &sink), Canceled);
  EXPECT_EQ(blocks, 3);
}

TEST(MatrixPixelSource, RejectsInconsistentSizes) {
  test::expectThrowWith<InvalidArgument>([] { MatrixPixelSource(std::vector<float>(5), 2, 3); },
                                         {"5 values", "need 6"});
  EXPECT_THROW(MatrixPixelSource(std::vector<float>(6), 0, 3), InvalidArgument);
  EXPECT_THROW(MatrixPixelSource(std::vector<float>(6), 2, 3, 0), InvalidArgument);
}

}  // namespace
}  // namespace dequnmix
