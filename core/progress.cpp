#include "core/progress.h"

#include <algorithm>

#include "core/errors.h"

namespace dequnmix {

void ProgressRange::setProgress(double fraction) {
  if (parent_) parent_->setProgress(begin_ + (end_ - begin_) * std::clamp(fraction, 0.0, 1.0));
}

void throwIfCanceled(const ProgressSink* sink) {
  if (sink && sink->isCanceled()) throw Canceled();
}

}  // namespace dequnmix
