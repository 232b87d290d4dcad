// Tiled DEQ-Unmix inference (deq_unmix.h): each tile is read with a halo, solved from its
// FCLS abundances and written without the halo.
#include <algorithm>
#include <limits>

#include "core/deq/deq_ops.h"
#include "core/deq/device.h"
#include "core/deq/scene_tensors.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

// The model's network and endmembers on the device.
struct PreparedModel {
  DeqNetwork network;
  torch::Tensor endmembers;      // scaled
  torch::Tensor endmembersData;  // data units
  torch::Tensor fill;            // scaled, L: stands in for nodata pixels
  torch::Tensor bandScale;       // L: noise whitening x input scale (data units -> scaled)
  torch::Tensor bandWeights;     // L: noise whitening (the spatial prox's guide), or undefined
};

PreparedModel prepareModel(const DeqModel& model, const torch::Device& device) {
  if (model.endmembers.bands != model.bands || model.endmembers.endmembers() < 2)
    throw InvalidArgument("DEQ-Unmix model: endmember table does not match its band count");
  model.network.validate("DEQ-Unmix model");  // in-memory models are not checked on load
  if (model.network.scaleInvariance == ScaleInvariance::Automatic)
    throw InvalidArgument(
        "DEQ-Unmix model: scale invariance is 'auto', which only training resolves (on or off)");
  if (!model.bandWeights.empty() && int(model.bandWeights.size()) != model.bands)
    throw InvalidArgument("DEQ-Unmix model: band weights do not match its band count");
  PreparedModel p;
  if (!model.bandWeights.empty())
    p.bandWeights = torch::tensor(model.bandWeights, torch::kFloat32).to(device);
  p.bandScale =
      (p.bandWeights.defined() ? p.bandWeights : torch::ones({1}, torch::kFloat32)).to(device) *
      model.inputScale;
  p.network = DeqNetwork::fromTensors(model.bands, model.endmembers.endmembers(), model.network,
                                      model.weights, device);
  p.endmembersData = tableTensor(model.endmembers).to(device);
  p.endmembers = p.endmembersData * p.bandScale.reshape({-1, 1});
  p.fill = p.endmembers.mean(1);
  return p;
}

// A tile of the output grid and the window (tile + halo) read around it.
struct TileWindow {
  int row, col, rows, cols;                  // the tile
  int readRow, readCol, readRows, readCols;  // the window
};

TileWindow tileWindow(int ty, int tx, int height, int width, const DeqInferOptions& o) {
  TileWindow t;
  t.row = ty * o.tileSize;
  t.col = tx * o.tileSize;
  t.rows = std::min(o.tileSize, height - t.row);
  t.cols = std::min(o.tileSize, width - t.col);
  t.readRow = std::max(0, t.row - o.halo);
  t.readCol = std::max(0, t.col - o.halo);
  t.readRows = std::min(height, t.row + t.rows + o.halo) - t.readRow;
  t.readCols = std::min(width, t.col + t.cols + o.halo) - t.readCol;
  return t;
}

// What one tile adds to the output and the statistics.
struct TileResult {
  torch::Tensor abundances;  // P x rows x cols, CPU, NaN at nodata
  torch::Tensor residual;    // rows x cols, CPU, NaN at nodata (undefined unless asked)
  int64_t validPixels = 0;
  double residualSum = 0;
  double startSeconds = 0;  // before the solve
};

TileResult solveTile(const PreparedModel& pm, const torch::Tensor& raw, const TileWindow& t,
                     const DeqInferOptions& o, DeqSolveStats& stats, ProgressSink* progress) {
  using torch::indexing::Slice;
  const auto t0 = Clock::now();
  const int P = int(pm.endmembers.size(1));
  auto [y, mask] = prepareScene(raw, pm.bandScale, pm.fill);
  const Slice sr(t.row - t.readRow, t.row - t.readRow + t.rows);
  const Slice sc(t.col - t.readCol, t.col - t.readCol + t.cols);
  torch::Tensor validCore = mask.index({0, 0, sr, sc}) > 0;
  TileResult out;
  out.validPixels = validCore.sum().item<int64_t>();
  torch::Tensor A = torch::zeros({P, t.rows, t.cols}, y.options());
  if (out.validPixels > 0) {
    std::unique_ptr<SpatialProx> prox = makeSpatialProx(pm.network);
    torch::Tensor guide;
    // The prox was fitted on the whitened scene.
    if (prox)
      guide =
          prox->guide({pm.bandWeights.defined() ? raw * pm.bandWeights.reshape({-1, 1, 1}) : raw,
                       t.readRow, t.readCol});
    torch::Tensor start = leastSquaresStart(pm.endmembers, y, pm.network.options.scaleInvariant());
    DeqUnmixMap map(pm.network, pm.endmembers, y, start,
                    guide.defined() ? guide.unsqueeze(0) : guide);
    out.startSeconds = secondsSince(t0);
    FixedPointResult fp = solveFixedPoint(map.asMap(), start, o.solver, progress);
    stats.add(fp.stats);
    A = fp.solution.index({0, Slice(), sr, sc});
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  torch::Tensor invalid = validCore.logical_not();
  out.abundances = A.masked_fill(invalid.unsqueeze(0).expand({P, t.rows, t.cols}), nan)
                       .to(torch::kCPU)
                       .contiguous();
  if (o.computeResidual) {
    torch::Tensor yd = raw.index({Slice(), sr, sc});
    torch::Tensor rec = reconstructScene(pm.endmembersData, A.unsqueeze(0));
    // The scale-invariant model reconstructs each pixel at its own brightness.
    if (pm.network.options.scaleInvariant()) rec = brightnessScale(rec, yd.unsqueeze(0)) * rec;
    rec = rec[0];
    // In double: squares of values beyond 1.8e19 overflow float32.
    torch::Tensor r = (rec - yd).to(torch::kFloat64).pow(2).mean(0).sqrt().to(yd.dtype());
    r = r.masked_fill(invalid, nan);
    if (out.validPixels > 0) out.residualSum = r.masked_fill(invalid, 0).sum().item<double>();
    out.residual = r.to(torch::kCPU).contiguous();
  }
  return out;
}

void warnUnconverged(const DeqSolveStats& s, ProgressSink* progress) {
  if (!progress || s.solves <= s.converged) return;
  progress->warning("DEQ-Unmix: " + std::to_string(s.solves - s.converged) + " of " +
                    std::to_string(s.solves) +
                    " tile solves stopped at the iteration cap before the tolerance (largest "
                    "relative residual " +
                    messageNumber(s.maxRelativeResidual) +
                    "): their abundances are the closest iterate, not the equilibrium. Train "
                    "with more inference iterations or a larger anchor weight.");
}

}  // namespace

DeqInferStats unmixWithDeqModel(const DeqModel& model, int height, int width, DeqTileReader& reader,
                                DeqTileWriter& writer, const DeqInferOptions& o,
                                ProgressSink* progress, TileShare share) {
  if (height < 1 || width < 1) throw InvalidArgument("unmix: empty scene");
  o.validate();
  const torch::Device device = parseDevice(o.device);
  const RunScope scope(device, o.threads);
  const auto t0 = Clock::now();
  const PreparedModel pm = prepareModel(model, device);
  const int tilesY = (height + o.tileSize - 1) / o.tileSize;
  const int tilesX = (width + o.tileSize - 1) / o.tileSize;
  DeqInferStats stats;
  stats.tilesX = tilesX;
  stats.tilesY = tilesY;
  stats.tileIterations.assign(size_t(tilesX) * tilesY, 0);
  stats.tileConverged.assign(size_t(tilesX) * tilesY, 0);
  double residualSum = 0;
  std::vector<float> buffer;
  torch::NoGradGuard noGrad;
  const int64_t tiles = int64_t(tilesY) * tilesX;
  const int64_t ownTiles = tiles / share.ranks + (share.rank < tiles % share.ranks ? 1 : 0);
  for (int ty = 0; ty < tilesY; ++ty) {
    for (int tx = 0; tx < tilesX; ++tx) {
      if (!share.owns(int64_t(ty) * tilesX + tx)) continue;
      throwIfCanceled(progress);
      const TileWindow t = tileWindow(ty, tx, height, width, o);
      buffer.assign(size_t(model.bands) * t.readRows * t.readCols, 0.0f);
      reader.read(t.readRow, t.readCol, t.readRows, t.readCols, buffer.data());
      torch::Tensor raw =
          torch::from_blob(buffer.data(), {model.bands, t.readRows, t.readCols}, torch::kFloat32)
              .to(device);
      const DeqSolveStats before = stats.solver;
      TileResult r = solveTile(pm, raw, t, o, stats.solver, progress);
      const size_t index = size_t(ty) * tilesX + tx;
      stats.tileIterations[index] = int(stats.solver.iterations - before.iterations);
      stats.tileConverged[index] = int(stats.solver.converged - before.converged);
      writer.write(t.row, t.col, t.rows, t.cols, r.abundances.data_ptr<float>(),
                   r.residual.defined() ? r.residual.data_ptr<float>() : nullptr);
      residualSum += r.residualSum;
      stats.startSeconds += r.startSeconds;
      stats.validPixels += r.validPixels;
      ++stats.tiles;
      if (progress)
        progress->setProgress(double(stats.tiles) / double(std::max<int64_t>(1, ownTiles)));
    }
  }
  stats.seconds = secondsSince(t0);
  stats.meanResidualRmse = stats.validPixels ? residualSum / double(stats.validPixels) : 0.0;
  stats.pixelsPerSecond = double(height) * width / std::max(stats.seconds, 1e-9);
  warnUnconverged(stats.solver, progress);
  return stats;
}

namespace {
class VectorReader final : public DeqTileReader {
 public:
  VectorReader(const std::vector<float>& scene, int bands, int height, int width)
      : scene_(scene), bands_(bands), height_(height), width_(width) {}
  void read(int row, int col, int rows, int cols, float* values) override {
    for (int b = 0; b < bands_; ++b)
      for (int r = 0; r < rows; ++r)
        std::copy_n(scene_.data() + (int64_t(b) * height_ + row + r) * width_ + col, cols,
                    values + (int64_t(b) * rows + r) * cols);
  }

 private:
  const std::vector<float>& scene_;
  int bands_, height_, width_;
};

class VectorWriter final : public DeqTileWriter {
 public:
  VectorWriter(DeqInferResult& out, int P, int height, int width, bool residual)
      : out_(out), P_(P), height_(height), width_(width) {
    out_.abundances.assign(size_t(P) * height * width, 0.0f);
    if (residual) out_.residual.assign(size_t(height) * width, 0.0f);
  }
  void write(int row, int col, int rows, int cols, const float* a, const float* res) override {
    for (int p = 0; p < P_; ++p)
      for (int r = 0; r < rows; ++r)
        std::copy_n(a + (int64_t(p) * rows + r) * cols, cols,
                    out_.abundances.data() + (int64_t(p) * height_ + row + r) * width_ + col);
    if (res && !out_.residual.empty())
      for (int r = 0; r < rows; ++r)
        std::copy_n(res + int64_t(r) * cols, cols,
                    out_.residual.data() + int64_t(row + r) * width_ + col);
  }

 private:
  DeqInferResult& out_;
  int P_, height_, width_;
};
}  // namespace

DeqInferResult unmixSceneWithDeqModel(const DeqModel& model, const std::vector<float>& scene,
                                      int height, int width, const DeqInferOptions& options,
                                      ProgressSink* progress) {
  if (scene.size() != size_t(model.bands) * height * width)
    throw BandMismatchError("unmix: the scene must hold " + std::to_string(model.bands) +
                            " bands of " + std::to_string(width) + " x " + std::to_string(height) +
                            " pixels (the model's band count)");
  DeqInferResult result;
  VectorReader reader(scene, model.bands, height, width);
  VectorWriter writer(result, model.endmembers.endmembers(), height, width,
                      options.computeResidual);
  result.stats = unmixWithDeqModel(model, height, width, reader, writer, options, progress);
  return result;
}

}  // namespace dequnmix
