// SLIC superpixels (core/classical/superpixels.h): time per inference tile window (256 + 2 x 16
// halo = 288 x 288 pixels, 200 bands; a 2048 x 2048 scene is 64 such windows) and the
// segmentation of Samson (count, mean size, time). One thread, as the code is sequential.
// Options: --help.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/arguments.h"
#include "bench/scene_io.h"
#include "core/classical/superpixels.h"
#include "core/synthetic/synthetic.h"

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
  bench::Arguments args("bench_superpixels",
                        "SLIC superpixels: time per inference tile window and on Samson.");
  args.option("--size", o.regionSize, "S", "superpixel size in pixels");
  args.option("--compactness", o.compactness, "M", "SLIC compactness");
  args.option("--data", data, "DIR", "folder holding samson.tif");
  args.option("--write-labels", labelsPath, "PATH",
              "write Samson's labels as a one-band Float32 GeoTIFF (for a visual check)");
  args.parseOrExit(argc, argv);
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
