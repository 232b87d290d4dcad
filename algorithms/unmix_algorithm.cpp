#include "algorithms/unmix_algorithm.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <qgsprocessingoutputs.h>
#include <qgsprocessingparameters.h>

#include "algorithms/deq_raster_io.h"
#include "algorithms/evaluation_report.h"
#include "algorithms/gdal_raster.h"
#include "algorithms/unmix_report.h"
#include "core/errors.h"
#include "core/io/spectral_metadata.h"

namespace dequnmix::processing {

namespace {

QString bandList(const std::vector<int>& bands) {
  QStringList list;
  for (int b : bands) list << QString::number(b);
  return list.join(QStringLiteral(", "));
}

// The abundance raster and the optional residual raster of one unmixing, staged until
// commit() (a failure leaves neither).
struct RasterOutputs {
  RasterOutputs(const QString& abundancePath, const QString& residualPath,
                const GdalWindowReader& reader, const std::vector<std::string>& names)
      : abundances(std::make_unique<GdalRasterWriter>(abundancePath.toStdString(), reader.width(),
                                                      reader.height(), names, reader.georeference(),
                                                      kOutputNoData)),
        residual(residualWriterFor(residualPath.toStdString(), reader.width(), reader.height(),
                                   reader.georeference())) {}
  void commit() {
    abundances->finish();
    if (residual) residual->finish();
    abundances->commit();
    if (residual) residual->commit();
  }
  std::unique_ptr<GdalRasterWriter> abundances, residual;
};

// The part rasters of a data-parallel unmix: one hidden GeoTIFF per rank next to each
// output. Each rank removes its own when done; rank 0 removes every one (a lost rank's too).
class RankParts {
 public:
  RankParts(QString abundances, QString residual, int rank, int ranks)
      : abundances_(std::move(abundances)),
        residual_(std::move(residual)),
        rank_(rank),
        ranks_(ranks) {}
  ~RankParts() {
    for (int r = 0; r < ranks_; ++r)
      if (rank_ == 0 || r == rank_)
        for (const QString& part : {abundance(r), residual(r)})
          if (!part.isEmpty()) QFile::remove(part);
  }
  QString abundance(int rank) const { return part(abundances_, rank); }
  QString residual(int rank) const {
    return residual_.isEmpty() ? QString() : part(residual_, rank);
  }

  // Writes every pixel from the part of the rank that owns its tile (TileShare).
  void assemble(RasterOutputs& out, int tileSize) const {
    assembleRaster(*out.abundances, tileSize, [this](int r) { return abundance(r); });
    if (out.residual)
      assembleRaster(*out.residual, tileSize, [this](int r) { return residual(r); });
  }

 private:
  static QString part(const QString& output, int rank) {
    const QFileInfo file(output);
    return file.dir().filePath(
        QStringLiteral(".%1.rank%2.tif").arg(file.completeBaseName()).arg(rank));
  }

  template <typename PartOf>
  void assembleRaster(GdalRasterWriter& out, int tileSize, PartOf partOf) const {
    const int W = out.width(), H = out.height(), P = out.bands();
    const int tilesX = (W + tileSize - 1) / tileSize;
    std::vector<std::unique_ptr<GdalWindowReader>> parts;
    for (int r = 0; r < ranks_; ++r)
      parts.push_back(std::make_unique<GdalWindowReader>(partOf(r).toStdString(),
                                                         std::vector<int>{}, "a rank's part"));
    for (int row = 0; row < H; row += tileSize) {
      const int rows = std::min(tileSize, H - row);
      const size_t plane = size_t(rows) * W;
      std::vector<std::vector<float>> values(ranks_, std::vector<float>(plane * P));
      for (int r = 0; r < ranks_; ++r) parts[r]->read(row, 0, rows, W, values[r].data());
      std::vector<float> strip(plane * P);
      for (size_t i = 0; i < plane; ++i) {
        const int64_t tile = int64_t(row / tileSize) * tilesX + int64_t(i % W) / tileSize;
        const std::vector<float>& owner = values[size_t(tile % ranks_)];
        for (int e = 0; e < P; ++e) {
          const float v = owner[size_t(e) * plane + i];
          strip[i * P + e] = std::isfinite(v) ? v : out.nodata();
        }
      }
      out.writeRows(row, rows, strip.data());
    }
  }

  QString abundances_, residual_;
  int rank_, ranks_;
};

// The statistics of every rank's tiles together.
dequnmix::DeqInferStats summedOverRanks(dequnmix::DeqInferStats s, dequnmix::ProcessGroup& group) {
  const std::vector<double> total =
      group.sum({double(s.tiles), double(s.validPixels), s.meanResidualRmse * double(s.validPixels),
                 double(s.solver.solves), double(s.solver.iterations), double(s.solver.converged)});
  s.tiles = int64_t(total[0]);
  s.validPixels = int64_t(total[1]);
  s.meanResidualRmse = total[1] > 0 ? total[2] / total[1] : 0.0;
  s.solver.solves = int64_t(total[3]);
  s.solver.iterations = int64_t(total[4]);
  s.solver.converged = int64_t(total[5]);
  // Each tile was solved by one rank; the others hold 0 there.
  for (std::vector<int>* perTile : {&s.tileIterations, &s.tileConverged}) {
    const std::vector<double> sum =
        group.sum(std::vector<double>(perTile->begin(), perTile->end()));
    std::transform(sum.begin(), sum.end(), perTile->begin(), [](double v) { return int(v); });
  }
  return s;
}

}  // namespace

QString UnmixAlgorithm::name() const { return QStringLiteral("unmix"); }

QString UnmixAlgorithm::displayName() const { return QObject::tr("Unmix with DEQ-Unmix model"); }

QStringList UnmixAlgorithm::tags() const {
  return QObject::tr(
             "deq,deep equilibrium,unmixing,inference,apply,model,abundance,hyperspectral,tiles")
      .split(',');
}

QString UnmixAlgorithm::group() const { return QObject::tr("DEQ-Unmix"); }

QString UnmixAlgorithm::groupId() const { return QStringLiteral("dequnmix"); }

QString UnmixAlgorithm::shortDescription() const {
  return QObject::tr("Applies a trained DEQ-Unmix model to a scene, tile by tile.");
}

QString UnmixAlgorithm::shortHelpString() const {
  const dequnmix::DeqInferOptions d;
  return QObject::tr(
             "Computes abundances of a scene with a model written by 'Train DEQ-Unmix': the "
             "equilibrium of the trained map is solved tile by tile, each tile read with a "
             "halo of neighbouring pixels that is dropped after the solve, so any scene size "
             "works in bounded memory. The model remembers its band subset, input scaling, "
             "endmembers and solver settings; the scene must have the bands the model was "
             "trained on. Nodata pixels (and fill, 0 in every band) stay nodata (-9999).\n\n"
             "Parameters\n"
             "- INPUT: the hyperspectral raster.\n"
             "- MODEL: a model file from 'Train DEQ-Unmix' (usually *.dequnmix; any name is "
             "accepted, the file is recognised by its content).\n"
             "- TILE_SIZE: side of each tile's core in pixels (default %1).\n"
             "- HALO: pixels read around each tile (default %2); larger is closer to a "
             "whole-image solve.\n"
             "- THREADS: CPU threads, 0 = all cores (default 0).\n"
             "- DEVICE (advanced): auto (default: the GPU when this build has CUDA and one is "
             "visible, else the CPU), cpu, cuda or cuda:N.\n\n"
             "Outputs\n"
             "- OUTPUT: abundances, one Float32 band per endmember named after it.\n"
             "- OUTPUT_RESIDUAL: optional per-pixel reconstruction RMSE raster.\n"
             "- OUTPUT_REPORT: optional self-contained HTML report: abundance and error maps, "
             "solver statistics and the tiles' iterations and convergence as maps.\n"
             "- MEAN_RESIDUAL_RMSE (over valid pixels, data units), MEAN_ITERATIONS (solver "
             "iterations per tile), CONVERGED_FRACTION (of the tile solves).")
      .arg(d.tileSize)
      .arg(d.halo);
}

UnmixAlgorithm* UnmixAlgorithm::createInstance() const { return new UnmixAlgorithm(); }

void UnmixAlgorithm::initAlgorithm(const QVariantMap&) {
  const dequnmix::DeqInferOptions d;
  using Number = QgsProcessingParameterNumber;
  using Limits = dequnmix::DeqLimits;
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("INPUT"),
                                                     QObject::tr("Hyperspectral raster")));
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("MODEL"), QObject::tr("DEQ-Unmix model"), QgsProcessingParameterFile::File,
      QString(), QVariant(), false, QObject::tr("DEQ-Unmix models (*.dequnmix);;All files (*)")));
  addParameter(ranged(new Number(QStringLiteral("TILE_SIZE"), QObject::tr("Tile size (pixels)"),
                                 Number::Integer, d.tileSize, false, Limits::kMinInferenceTile,
                                 Limits::kMaxInferenceTile)));
  addParameter(ranged(new Number(QStringLiteral("HALO"), QObject::tr("Halo (pixels)"),
                                 Number::Integer, d.halo, false, 0, Limits::kMaxHalo)));
  addThreadsParameter(false);
  addDeviceParameter();
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT"),
                                                           QObject::tr("Abundances")));
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT_RESIDUAL"),
                                                           QObject::tr("Reconstruction RMSE"),
                                                           QVariant(), true, false));
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_REPORT"), QObject::tr("Unmixing report"),
      QObject::tr("HTML files (*.html)"), QVariant(), true, false));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("MEAN_RESIDUAL_RMSE"),
                                          QObject::tr("Mean reconstruction RMSE")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("MEAN_ITERATIONS"),
                                          QObject::tr("Mean solver iterations per tile")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("CONVERGED_FRACTION"),
                                          QObject::tr("Converged fraction of the tile solves")));
}

bool UnmixAlgorithm::prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                                      QgsProcessingFeedback* feedback) {
  checkNumberRanges(parameters, context);
  input_ = rasterInput(parameters, QStringLiteral("INPUT"), context);
  modelPath_ = parameterAsFile(parameters, QStringLiteral("MODEL"), context);
  if (modelPath_.isEmpty()) fail(QObject::tr("MODEL: no model file was given."));
  options_ = dequnmix::DeqInferOptions{};
  options_.tileSize = parameterAsInt(parameters, QStringLiteral("TILE_SIZE"), context);
  options_.halo = parameterAsInt(parameters, QStringLiteral("HALO"), context);
  options_.threads = threadsParameter(parameters, context);
  options_.device = deviceParameter(parameters, context, feedback);
  try {
    options_.validate();
  } catch (...) {
    rethrowAsProcessingException();
  }
  return true;
}

QVariantMap UnmixAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                             QgsProcessingContext& context,
                                             QgsProcessingFeedback* feedback) {
  const AbundanceOutputPaths paths = abundanceOutputPaths(parameters, context);
  checkAbundanceOutputs(paths, input_, QStringLiteral("MODEL"), modelPath_);
  const auto& [outputPath, residualPath] = paths;
  const QString reportPath =
      parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_REPORT"), context);
  const dequnmix::DeqModel model = loadModel();

  FeedbackProgress progress(feedback);
  QVariantMap outputs;
  try {
    const std::string label = QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString();
    GdalWindowReader reader(input_.gdalPath, modelBands(model, progress), label);
    reader.readZeroPixelsAsNodata();
    checkSceneFitsModel(reader, model, progress);
    const std::unique_ptr<dequnmix::ProcessGroup> group = joinProcessGroup(progress);
    dequnmix::DeqInferStats stats;
    if (group) {
      stats = inferDataParallel(model, reader, paths, *group, progress, feedback);
    } else {
      RasterOutputs out(paths.abundances, paths.residual, reader, model.endmembers.names);
      StripTileWriter writer(*out.abundances, out.residual.get());
      stats = infer(model, reader, writer, progress, feedback);
      writer.finish();
      out.commit();
    }
    requireValidPixels(stats);
    if (!reportPath.isEmpty() && (!group || group->rank() == 0))
      writeReport(reportPath, paths, model, stats, group ? group->size() : 1);
    outputs = statsResults(stats, progress);
  } catch (...) {
    rethrowAsProcessingException();
  }
  outputs.insert(QStringLiteral("OUTPUT"), outputPath);
  if (!residualPath.isEmpty()) outputs.insert(QStringLiteral("OUTPUT_RESIDUAL"), residualPath);
  if (!reportPath.isEmpty()) outputs.insert(QStringLiteral("OUTPUT_REPORT"), reportPath);
  return outputs;
}

// OUTPUT_REPORT from the committed rasters and the statistics, written all or nothing.
void UnmixAlgorithm::writeReport(const QString& reportPath, const AbundanceOutputPaths& paths,
                                 const dequnmix::DeqModel& model,
                                 const dequnmix::DeqInferStats& stats, int ranks) const {
  UnmixReportInput in;
  in.sceneName = input_.layerName.toStdString();
  in.modelPath = modelPath_.toStdString();
  in.width = input_.width;
  in.height = input_.height;
  in.endmemberNames = model.endmembers.names;
  in.abundances = readAbundanceMaps(paths.abundances.toStdString(), "OUTPUT");
  if (!paths.residual.isEmpty())
    in.residual = readAbundanceMaps(paths.residual.toStdString(), "OUTPUT_RESIDUAL");
  in.stats = &stats;
  in.tileSize = options_.tileSize;
  in.halo = options_.halo;
  in.ranks = ranks;
  writeTextFileAtomically(reportPath.toStdString(), unmixReportHtml(in));
}

// MODEL, loaded (its bands are checked against INPUT by modelBands).
dequnmix::DeqModel UnmixAlgorithm::loadModel() const {
  dequnmix::DeqModel model;
  try {
    model = dequnmix::loadDeqModel(modelPath_.toStdString());
  } catch (const dequnmix::Error& e) {
    fail(QObject::tr("MODEL (%1) cannot be used: %2").arg(modelPath_, QString::fromUtf8(e.what())));
  } catch (...) {
    rethrowAsProcessingException();
  }
  return model;
}

// The raster bands MODEL reads: matched by wavelength where the model and INPUT both state
// wavelengths (so a scene whose bands are numbered otherwise still fits), else the model's
// band subset by number, checked against INPUT's band count.
std::vector<int> UnmixAlgorithm::modelBands(const dequnmix::DeqModel& model,
                                            FeedbackProgress& progress) const {
  const std::vector<double> scene =
      GdalInput(input_.gdalPath, {}, input_.parameter.toStdString()).spectra().wavelengthsNm;
  if (int(model.wavelengths.size()) == model.bands && !scene.empty()) {
    std::vector<int> bands;
    try {
      for (int index : dequnmix::matchWavelengths(model.wavelengths, scene, 1.0))
        bands.push_back(index + 1);
    } catch (const dequnmix::InvalidArgument& e) {
      fail(QObject::tr("MODEL was trained on bands INPUT (%1) lacks: %2. Use a scene from the "
                       "same sensor, or train a model on this one.")
               .arg(input_.layerName, QString::fromUtf8(e.what())));
    }
    progress.info("MODEL's " + std::to_string(bands.size()) +
                  " bands matched to INPUT's by wavelength");
    return bands;
  }
  // The model's band subset must exist in INPUT, and the band counts must agree.
  for (int b : model.bandSubset) {
    if (b < 1 || b > input_.bandCount) {
      fail(QObject::tr("MODEL was trained on bands %1 of a %2-band raster, but INPUT (%3) has only "
                       "%4 bands: band %5 does not exist. Use a scene with the bands the model "
                       "was trained on.")
               .arg(bandList(model.bandSubset))
               .arg(model.sourceBands)
               .arg(input_.layerName)
               .arg(input_.bandCount)
               .arg(b));
    }
  }
  try {
    dequnmix::checkModelBands(model, input_.bandCount);
  } catch (const dequnmix::BandMismatchError&) {
    fail(QObject::tr("MODEL was trained on a %1-band raster%2, but INPUT (%3) has %4 bands. "
                     "Use a scene with the same bands, or train a model on this one.")
             .arg(model.bandSubset.empty() ? model.bands : model.sourceBands)
             .arg(model.bandSubset.empty()
                      ? QString()
                      : QObject::tr(" (bands %1)").arg(bandList(model.bandSubset)))
             .arg(input_.layerName)
             .arg(input_.bandCount));
  }
  return model.bandSubset;
}

// The bands the reader provides and the scene's scale against the training scene's.
void UnmixAlgorithm::checkSceneFitsModel(const GdalWindowReader& reader,
                                         const dequnmix::DeqModel& model,
                                         FeedbackProgress& progress) {
  if (reader.bands() != model.bands) {
    fail(QObject::tr("MODEL expects %1 bands but INPUT provides %2. Use a scene with the bands "
                     "the model was trained on.")
             .arg(model.bands)
             .arg(reader.bands()));
  }
  const dequnmix::ValueSummary values = reader.sampledValues();
  checkSceneValues(values, progress);
  checkScale(values.rms(), 1.0 / model.inputScale,
             QStringLiteral("the scene the model was trained on"), progress);
}

// Tiled inference of `share`'s tiles with the model's solver settings.
dequnmix::DeqInferStats UnmixAlgorithm::infer(const dequnmix::DeqModel& model,
                                              GdalWindowReader& reader, StripTileWriter& writer,
                                              FeedbackProgress& progress,
                                              QgsProcessingFeedback* feedback,
                                              dequnmix::TileShare share) const {
  dequnmix::DeqInferOptions o = options_;
  o.solver = model.solver;   // the model's inference settings (same as train's OUTPUT)
  o.computeResidual = true;  // MEAN_RESIDUAL_RMSE is reported either way
  progress.info("Unmixing " + std::to_string(reader.width()) + " x " +
                std::to_string(reader.height()) + " pixels into " +
                std::to_string(model.endmemberCount()) + " endmembers, tiles of " +
                std::to_string(o.tileSize) + " pixels with a halo of " + std::to_string(o.halo) +
                " (" + std::to_string(o.threads) + " threads, " + o.device + ")");
  if (feedback) feedback->setProgressText(QObject::tr("Inference tiles"));
  const dequnmix::DeqInferStats stats = dequnmix::unmixWithDeqModel(
      model, reader.height(), reader.width(), reader, writer, o, &progress, share);
  throwIfCanceled(&progress);
  return stats;
}

void UnmixAlgorithm::requireValidPixels(const dequnmix::DeqInferStats& stats) const {
  if (stats.validPixels == 0) {
    fail(QObject::tr("INPUT (%1) has no valid pixel: every pixel is nodata (or NaN) in at least "
                     "one band the model uses, or 0 in every band. Check the raster's nodata "
                     "value.")
             .arg(input_.layerName));
  }
}

// Each rank unmixes its share of the tiles into a part raster next to the output; rank 0
// then assembles the output from the parts (each pixel from the rank that owns its tile),
// so it equals a one-process run. The statistics are summed over the ranks.
dequnmix::DeqInferStats UnmixAlgorithm::inferDataParallel(const dequnmix::DeqModel& model,
                                                          GdalWindowReader& reader,
                                                          const AbundanceOutputPaths& paths,
                                                          dequnmix::ProcessGroup& group,
                                                          FeedbackProgress& progress,
                                                          QgsProcessingFeedback* feedback) const {
  const dequnmix::TileShare share{group.rank(), group.size()};
  RankParts parts(paths.abundances, paths.residual, share.rank, share.ranks);
  dequnmix::DeqInferStats stats;
  {
    RasterOutputs mine(parts.abundance(share.rank), parts.residual(share.rank), reader,
                       model.endmembers.names);
    StripTileWriter writer(*mine.abundances, mine.residual.get(), false);
    stats = infer(model, reader, writer, progress, feedback, share);
    writer.finish();
    mine.commit();
  }
  group.barrier();  // every part is complete
  if (share.rank == 0) {
    progress.info("Assembling the output from the " + std::to_string(share.ranks) +
                  " ranks' parts");
    RasterOutputs out(paths.abundances, paths.residual, reader, model.endmembers.names);
    parts.assemble(out, options_.tileSize);
    out.commit();
  }
  group.barrier();  // rank 0 has read the parts
  return summedOverRanks(stats, group);
}

QVariantMap UnmixAlgorithm::statsResults(const dequnmix::DeqInferStats& stats,
                                         FeedbackProgress& progress) {
  progress.info("DEQ-Unmix: " + std::to_string(stats.tiles) + " tiles, " +
                std::to_string(stats.validPixels) + " valid pixels, mean iterations " +
                std::to_string(stats.solver.meanIterations()) + ", converged fraction " +
                std::to_string(stats.solver.convergedFraction()) + ", " +
                std::to_string(stats.seconds) + " s");
  QVariantMap outputs;
  outputs.insert(QStringLiteral("MEAN_RESIDUAL_RMSE"), stats.meanResidualRmse);
  outputs.insert(QStringLiteral("MEAN_ITERATIONS"), stats.solver.meanIterations());
  outputs.insert(QStringLiteral("CONVERGED_FRACTION"), stats.solver.convergedFraction());
  return outputs;
}

}  // namespace dequnmix::processing
