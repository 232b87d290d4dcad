// TrainAlgorithm on a scene larger than MEMORY_BUDGET_MB: never read whole
// (train_algorithm.h).
#include <string>

#include "algorithms/train_algorithm.h"

namespace dequnmix::processing {

bool TrainAlgorithm::streams() const {
  const double pixels = double(input_.width) * double(input_.height);
  return 4.0 * usedBandCount(input_, bands_) * pixels >
         options_.memoryBudgetInEffectMiB() * 1048576.0;
}

QVariantMap TrainAlgorithm::trainStreamed(Outputs& out, dequnmix::DeqTrainInput& in, int p,
                                          dequnmix::ProcessGroup* group, FeedbackProgress& progress,
                                          QgsProcessingFeedback* feedback) const {
  if (hasReference_)
    fail(QObject::tr("REFERENCE_ABUNDANCES: supervised training reads the whole scene, which is "
                     "larger than MEMORY_BUDGET_MB (%1 MiB). Raise MEMORY_BUDGET_MB or train "
                     "unsupervised.")
             .arg(options_.memoryBudgetInEffectMiB()));
  const std::string label = QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString();
  GdalWindowReader reader(input_.gdalPath, bands_, label);
  reader.readZeroPixelsAsNodata();
  describeScene(in, reader);
  checkSceneValues(reader.sampledValues(), progress);
  progress.info("INPUT holds " +
                std::to_string(long(4.0 * in.bands * in.width * in.height / 1048576)) +
                " MiB of pixels, over MEMORY_BUDGET_MB: endmembers from a sample of tiles, "
                "epochs of tiles read from the file, abundances written tile by tile");
  Timings timings;
  auto t = Clock::now();
  if (feedback) feedback->setProgressText(QObject::tr("Training on tiles read from the file"));
  dequnmix::DeqTrainOptions o = options_;
  o.endmembers = in.hasInitialEndmembers ? o.endmembers : p;  // 0: estimated on the sample
  dequnmix::ProgressRange trainProgress(&progress, 0.0, 0.7);
  dequnmix::DeqTrainResult result =
      dequnmix::trainDeqUnmixStreamed(reader, in, o, &trainProgress, group);
  timings.emplace_back("training on streamed tiles (core)", secondsSince(t));
  throwIfCanceled(&progress);
  if (group && group->rank() != 0) {
    progress.info("Rank " + std::to_string(group->rank()) + " done; rank 0 writes the outputs.");
    return summaryResults(result.model.summary, progress);
  }

  t = Clock::now();
  if (feedback) feedback->setProgressText(QObject::tr("Unmixing tile by tile"));
  createRasterWriters(out, in, result.model.endmembers.names, reader.georeference());
  StripTileWriter writer(*out.abundanceWriter, out.residualWriter.get());
  dequnmix::DeqInferOptions io = inference_;
  io.device = o.device;
  dequnmix::ProgressRange inferProgress(&progress, 0.7, 1.0);
  const dequnmix::DeqInferStats stats = dequnmix::unmixWithDeqModel(
      result.model, in.height, in.width, reader, writer, io, &inferProgress);
  writer.finish();
  result.inference = stats.solver;
  writeModelFiles(out, result.model);
  timings.emplace_back("unmixing tile by tile (core)", secondsSince(t));
  if (out.reportFile) writeReport(out, result, stats.validPixels, timings);
  throwIfCanceled(&progress);
  out.commit();
  return summaryResults(result.model.summary, progress);
}

}  // namespace dequnmix::processing
