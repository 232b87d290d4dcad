// SLIC superpixels (core/superpixels.h): time per inference tile window (256 + 2 x 16
// halo = 288 x 288 pixels, 200 bands; a 2048 x 2048 scene is 64 such windows) and the
// segmentation of Samson (count, mean size, time). One thread, as the code is sequential.
//
//   bench_superpixels [--size S] [--compactness M] [--data DIR] [--write-labels PATH]
// --write-labels: Samson's labels as a one-band Float32 GeoTIFF (for a visual check).

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/scene_io.h"
#include "core/superpixels.h"
#include "core/synthetic.h"

using namespace dequnmix;

namespace {

double timeIt(const std::vector<float>& cube, int bands, int height, int width,
              const SuperpixelOptions& o, Superpixels& out) {
  const auto t0 = std::chrono::steady_clock::now();
  out = computeSuperpixels(cube.data(), bands, height, width, o);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  SuperpixelOptions o;
  std::string data = std::string(DEQUNMIX_SHARED_DIR) + "/data/samson", labelsPath;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--size") {
      o.regionSize = std::stoi(argv[i + 1]);
    } else if (k == "--compactness") {
      o.compactness = std::stod(argv[i + 1]);
    } else if (k == "--data") {
      data = argv[i + 1];
    } else if (k == "--write-labels") {
      labelsPath = argv[i + 1];
    } else {
      std::fprintf(stderr, "see the header of bench/bench_superpixels.cpp for the options\n");
      return 2;
    }
  }
  SyntheticOptions so;
  so.width = so.height = 288;
  so.bands = 200;
  so.maxAbundance = 0.8;
  so.purePixels = false;
  const SyntheticScene tile = generateSyntheticScene(so);
  Superpixels s;
  const double t = timeIt(tile.scene, tile.bands, tile.height, tile.width, o, s);
  std::printf(
      "tile 288 x 288 x 200, S = %d, m = %g: %d superpixels, %.3f s (x 64 tiles of a "
      "2048 x 2048 scene: %.1f s)\n",
      o.regionSize, o.compactness, s.count, t, 64 * t);
  if (!std::ifstream(data + "/samson.tif")) {
    std::printf("Samson data not found in %s: skipped\n", data.c_str());
    return 0;
  }
  const bench::Cube c = bench::readCube(data + "/samson.tif");
  const double ts = timeIt(c.values, c.bands, c.height, c.width, o, s);
  std::printf("Samson %d x %d x %d: %d superpixels (mean %.1f pixels), %.3f s\n", c.width, c.height,
              c.bands, s.count, double(c.width) * c.height / s.count, ts);
  if (!labelsPath.empty()) {
    bench::Cube l;
    l.bands = 1;
    l.height = c.height;
    l.width = c.width;
    l.values.assign(s.labels.begin(), s.labels.end());
    bench::writeCube(labelsPath, l);
  }
  return 0;
}
