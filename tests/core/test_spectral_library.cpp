// ENVI spectral libraries and resampling a library to a scene's bands.
#include "core/io/spectral_library.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/errors.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

// Two spectra on 0.40-2.50 um every 10 nm: a line and a smooth bump.
EndmemberTable library() {
  EndmemberTable t;
  t.names = {"line", "bump"};
  for (double w = 400; w <= 2500; w += 10) t.wavelengths.push_back(w);
  t.bands = int(t.wavelengths.size());
  for (double w : t.wavelengths) {
    t.values.push_back(float(w / 2500));
    t.values.push_back(float(std::exp(-0.5 * std::pow((w - 1000) / 200, 2))));
  }
  return t;
}

TEST(SpectralLibrary, EnviLibraryRoundTripsWithNamesAndWavelengths) {
  const std::string path = ::testing::TempDir() + "/lib.sli";
  const EndmemberTable t = library();
  writeSpectralLibrary(path, t);
  EXPECT_TRUE(isEnviLibrary(path));
  EXPECT_TRUE(isEnviLibrary(::testing::TempDir() + "/lib.hdr"));
  for (const std::string& name : {path, ::testing::TempDir() + "/lib.hdr"}) {
    const EndmemberTable back = readSpectralLibrary(name);
    EXPECT_EQ(back.names, t.names);
    EXPECT_EQ(back.bands, t.bands);
    ASSERT_EQ(back.wavelengths.size(), t.wavelengths.size());
    for (size_t b = 0; b < t.wavelengths.size(); ++b)
      EXPECT_NEAR(back.wavelengths[b], t.wavelengths[b], 1e-6);
    EXPECT_EQ(back.values, t.values);
  }
  std::remove(path.c_str());
  std::remove((::testing::TempDir() + "/lib.hdr").c_str());
}

// A hand-written header: micrometres, big-endian doubles, a header offset.
TEST(SpectralLibrary, ReadsBigEndianDoublesInMicrometres) {
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream h(dir + "/be.hdr");
    h << "ENVI\nsamples = 3\nlines = 2\nbands = 1\nheader offset = 4\n"
         "file type = ENVI Spectral Library\ndata type = 5\nbyte order = 1\n"
         "wavelength units = Micrometers\nwavelength = {\n 0.5, 1.0,\n 1.5 }\n"
         "spectra names = { grass, soil }\n";
    std::ofstream d(dir + "/be.sli", std::ios::binary);
    d.write("skip", 4);
    for (double v : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}) {
      char bytes[8];
      std::memcpy(bytes, &v, 8);
      for (int k = 7; k >= 0; --k) d.put(bytes[k]);
    }
  }
  const EndmemberTable t = readEnviLibrary(dir + "/be.sli");
  EXPECT_EQ(t.names, (std::vector<std::string>{"grass", "soil"}));
  EXPECT_EQ(t.wavelengths, (std::vector<double>{500, 1000, 1500}));
  EXPECT_FLOAT_EQ(t.at(0, 0), 0.1f);
  EXPECT_FLOAT_EQ(t.at(2, 0), 0.3f);
  EXPECT_FLOAT_EQ(t.at(0, 1), 0.4f);
  // Short data and unsupported types are refused by name.
  {
    std::ofstream h(dir + "/be.hdr", std::ios::app);
    h << "data type = 12\n";
  }
  test::expectThrowWith<IoError>([&] { readEnviLibrary(dir + "/be.sli"); }, {"data type 12"});
}

TEST(SpectralLibrary, ResamplesLinearlyOrWithTheBandResponse) {
  const EndmemberTable t = library();
  LibraryResampling how;
  // Same wavelengths: unchanged.
  EXPECT_EQ(resampleLibrary(t, t.wavelengths, {}, &how).values, t.values);
  EXPECT_FALSE(how.resampled);
  // Linear interpolation reproduces the line exactly.
  const std::vector<double> centres = {455, 1005, 2201};
  EndmemberTable r = resampleLibrary(t, centres, {}, &how);
  EXPECT_TRUE(how.resampled);
  EXPECT_FALSE(how.gaussian);
  for (int b = 0; b < 3; ++b) EXPECT_NEAR(r.at(b, 0), centres[b] / 2500, 1e-6);
  // A Gaussian response keeps the line (symmetric) and flattens the bump's peak a little:
  // a Gaussian of width s convolved with one of sigma 200 peaks at 200 / sqrt(200^2 + s^2).
  r = resampleLibrary(t, {1000, 1500}, {100, 100}, &how);
  EXPECT_TRUE(how.gaussian);
  EXPECT_NEAR(r.at(0, 0), 1000.0 / 2500, 1e-4);
  const double s = 100 / 2.354820045;
  EXPECT_NEAR(r.at(0, 1), 200 / std::sqrt(200 * 200 + s * s), 2e-3);
  // Outside the library's range, or without wavelengths: refused.
  test::expectThrowWith<InvalidArgument>([&] { resampleLibrary(t, {350, 500}, {}); },
                                         {"covers 400-2500 nm", "band 1", "350 nm"});
  EndmemberTable bare = t;
  bare.wavelengths.clear();
  test::expectThrowWith<InvalidArgument>([&] { resampleLibrary(bare, {500}, {}); },
                                         {"states no wavelengths"});
}

}  // namespace
}  // namespace dequnmix
