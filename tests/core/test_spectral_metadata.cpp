// Wavelengths, units and bad-band ranges as raster metadata and users state them.
#include "core/io/spectral_metadata.h"

#include <cmath>

#include "core/errors.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

TEST(SpectralMetadata, UnitsNormaliseToNanometres) {
  EXPECT_EQ(nanometresPerUnit("nm"), 1.0);
  EXPECT_EQ(nanometresPerUnit("Nanometers"), 1.0);
  EXPECT_EQ(nanometresPerUnit(" Micrometers "), 1000.0);
  EXPECT_EQ(nanometresPerUnit("um"), 1000.0);
  EXPECT_EQ(nanometresPerUnit("\xc2\xb5m"), 1000.0);
  EXPECT_EQ(nanometresPerUnit("Wavenumber"), 0.0);
  EXPECT_EQ(wavelengthsToNm({0.45, 2.5}, "micrometers"), (std::vector<double>{450, 2500}));
  EXPECT_EQ(wavelengthsToNm({450, 2500}, "Nanometers"), (std::vector<double>{450, 2500}));
  // No units: micrometres when every value is below 30, else nanometres.
  EXPECT_EQ(wavelengthsToNm({0.45, 2.5}, ""), (std::vector<double>{450, 2500}));
  EXPECT_EQ(wavelengthsToNm({450, 2500}, "Unknown"), (std::vector<double>{450, 2500}));
  EXPECT_TRUE(wavelengthsToNm({1000, 2000}, "Wavenumber").empty());
}

TEST(SpectralMetadata, EnviListsParseAndRejectNonNumbers) {
  EXPECT_EQ(parseEnviList("{ 0.45, 0.46 ,0.47}", "wavelength"),
            (std::vector<double>{0.45, 0.46, 0.47}));
  EXPECT_EQ(parseEnviList("1,0,1", "bbl"), (std::vector<double>{1, 0, 1}));
  EXPECT_TRUE(parseEnviList("{ }", "fwhm").empty());
  test::expectThrowWith<InvalidArgument>([] { parseEnviList("{0.45, abc}", "wavelength"); },
                                         {"wavelength", "'abc' is not a number"});
}

TEST(SpectralMetadata, DescriptionsStateWavelengths) {
  EXPECT_DOUBLE_EQ(wavelengthFromDescription("Band 12 (0.4500 um)"), 450.0);
  EXPECT_DOUBLE_EQ(wavelengthFromDescription("450 nm"), 450.0);
  EXPECT_DOUBLE_EQ(wavelengthFromDescription("B5: 865.5nm"), 865.5);
  EXPECT_DOUBLE_EQ(wavelengthFromDescription("band (2.2 Micrometers)"), 2200.0);
  EXPECT_TRUE(std::isnan(wavelengthFromDescription("Band 12")));
  EXPECT_TRUE(std::isnan(wavelengthFromDescription("")));
}

TEST(SpectralMetadata, WavelengthRangesSelectBands) {
  const auto ranges = parseWavelengthRanges("1340-1450;1790-1960 2450-2500", "BAD_BANDS");
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges, waterVapourWindows());
  const std::vector<double> w = {400, 1340, 1400, 1451, 1800, 2000, 2450, 2500};
  EXPECT_EQ(bandsOutside(w, ranges), (std::vector<int>{0, 3, 5}));
  EXPECT_EQ(bandsOutside(w, {}).size(), w.size());
  test::expectThrowWith<InvalidArgument>(
      [] { parseWavelengthRanges("1340-1450;1960-1790", "BAD_BANDS"); },
      {"BAD_BANDS", "'1960-1790'", "1340-1450"});
  test::expectThrowWith<InvalidArgument>([] { parseWavelengthRanges("water", "BAD_BANDS"); },
                                         {"'water' is not a wavelength range"});
}

TEST(SpectralMetadata, WavelengthsMatchWithinTolerance) {
  const std::vector<double> scene = {400, 410, 420.4, 430, 440};
  EXPECT_EQ(matchWavelengths({410, 420, 440}, scene, 1.0), (std::vector<int>{1, 2, 4}));
  EXPECT_TRUE(matchWavelengths({}, scene, 1.0).empty());
  test::expectThrowWith<InvalidArgument>([&] { matchWavelengths({410, 425}, scene, 1.0); },
                                         {"no band at 425 nm", "nearest is at 420.4 nm"});
}

}  // namespace
}  // namespace dequnmix
