// Progress and cancel reach the core through this small interface, so that the core
// never sees a QGIS type. Every long-running core function takes a ProgressSink*
// (nullptr means "no reporting, never canceled").
#pragma once

#include <string>

namespace dequnmix {

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // fraction in [0, 1] of the work this sink stands for.
  virtual void setProgress(double fraction) = 0;
  virtual bool isCanceled() const = 0;
  // A line for the user's log (QGIS: feedback->pushInfo).
  virtual void info(const std::string& /*message*/) {}
  // Something the user must know about (QGIS: feedback->reportError(..., false)).
  virtual void warning(const std::string& message) { info(message); }
};

// Maps the [0, 1] progress of a sub-task onto [begin, end] of a parent sink; cancel and
// messages pass through. A null parent gives a sink that reports nothing.
class ProgressRange final : public ProgressSink {
 public:
  ProgressRange(ProgressSink* parent, double begin, double end)
      : parent_(parent), begin_(begin), end_(end) {}
  void setProgress(double fraction) override;
  bool isCanceled() const override { return parent_ && parent_->isCanceled(); }
  void info(const std::string& message) override {
    if (parent_) parent_->info(message);
  }
  void warning(const std::string& message) override {
    if (parent_) parent_->warning(message);
  }

 private:
  ProgressSink* parent_;
  double begin_;
  double end_;
};

// Throws Canceled when the sink (possibly null) has been canceled.
void throwIfCanceled(const ProgressSink* sink);

}  // namespace dequnmix
