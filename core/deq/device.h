// Where DEQ-Unmix runs: the torch::Device of an options string, and the per-run settings
// that training and inference both apply.
#pragma once

#include <torch/types.h>

#include "core/runtime.h"

#include <chrono>
#include <string>

namespace dequnmix {

// "auto" (CUDA when this LibTorch has it and a GPU is visible, else the CPU), "cpu", "cuda"
// or "cuda:N"; throws InvalidArgument naming what is missing (no CUDA in this LibTorch
// build, no GPU visible, no device N).
torch::Device parseDevice(const std::string& name);

// For the lifetime of a run: LibTorch's thread count (setThreadCount: 0 = all hardware
// threads), freed memory kept for reuse (KeepFreedMemory) and float32 convolutions on CUDA. cuDNN
// may run float32 convolutions in TF32 (a 10-bit mantissa, LibTorch's default on Ampere and later);
// on an H200 that moved the implicit gradient 1% away from the CPU's for no speed gain on these
// small convolutions, so a run turns it off and gives the caller's setting back at the end.
class RunScope {
 public:
  RunScope(const torch::Device& device, int threads);
  ~RunScope();
  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;

 private:
  bool cuda_, tf32Before_;
  KeepFreedMemory keepFreed_;  // see runtime.h
};

using Clock = std::chrono::steady_clock;
inline double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace dequnmix
