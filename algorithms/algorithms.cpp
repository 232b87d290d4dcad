#include "algorithms/algorithms.h"

#include "algorithms/estimate_endmembers_algorithm.h"
#include "algorithms/evaluate_algorithm.h"
#include "algorithms/fcls_algorithm.h"
#include "algorithms/ppi_algorithm.h"
#include "algorithms/resample_library_algorithm.h"
#include "algorithms/synthesize_algorithm.h"
#include "algorithms/train_algorithm.h"
#include "algorithms/unmix_algorithm.h"
#include "algorithms/vca_algorithm.h"

namespace dequnmix::processing {

QList<QgsProcessingAlgorithm*> createAlgorithms() {
  return {new SynthesizeAlgorithm(),
          new EstimateEndmembersAlgorithm(),
          new VcaAlgorithm(),
          new PpiAlgorithm(),
          new ResampleLibraryAlgorithm(),
          new FclsAlgorithm(),
          new EvaluateAlgorithm(),
          new TrainAlgorithm(),
          new UnmixAlgorithm()};
}

}  // namespace dequnmix::processing
