// One rank of the data-parallel tests (test_distributed.cpp), started with the environment
// of a launcher (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): trains the shared case and
// rank 0 writes the model.
//   distributed_worker MODEL_PATH TILES_PER_STEP [DIE_AT_PROGRESS [WHITENING_SPREAD
//                      [ANOMALY_RATIO [SPIKE_PIXELS]]]]
// With DIE_AT_PROGRESS above 0 the process exits abruptly (status 3) once training passes
// that fraction of its progress, as a killed rank would; WHITENING_SPREAD and ANOMALY_RATIO
// replace the case's DeqTrainOptions::automaticWhiteningSpread and anomalyResidualRatio,
// SPIKE_PIXELS its scene's.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/distributed/process_group.h"
#include "core/progress.h"
#include "tests/core/distributed/distributed_case.h"
#include "tests/core/test_support.h"

namespace {

class DieAt final : public dequnmix::ProgressSink {
 public:
  explicit DieAt(double fraction) : fraction_(fraction) {}
  void setProgress(double fraction) override {
    if (fraction_ > 0 && fraction >= fraction_) _exit(3);
  }
  bool isCanceled() const override { return false; }

 private:
  double fraction_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s MODEL_PATH TILES_PER_STEP [DIE_AT_PROGRESS [WHITENING_SPREAD "
                 "[ANOMALY_RATIO [SPIKE_PIXELS]]]]\n",
                 argv[0]);
    return 2;
  }
  try {
    using namespace dequnmix;
    ProcessGroup group(distributedEnvironment());
    DieAt sink(argc > 3 ? std::atof(argv[3]) : 0.0);
    DeqTrainOptions options = test::distributedCaseOptions(std::atoi(argv[2]));
    if (argc > 4) options.automaticWhiteningSpread = std::atof(argv[4]);
    if (argc > 5) options.anomalyResidualRatio = std::atof(argv[5]);
    const SyntheticScene scene = test::distributedCaseScene(argc > 6 ? std::atoi(argv[6]) : 0);
    const DeqTrainResult r = trainDeqUnmix(test::trainInputOf(scene), options, {}, &sink, &group);
    if (group.rank() == 0) saveDeqModel(argv[1], r.model);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
