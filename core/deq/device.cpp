// Device parsing and run settings (device.h).
#include "core/deq/device.h"

#include <ATen/Context.h>
#include <torch/cuda.h>

#include "core/errors.h"
#include "core/runtime.h"

namespace dequnmix {

torch::Device parseDevice(const std::string& name) {
  const std::string expected = "unknown device '" + name + "' (expected cpu, cuda or cuda:N)";
  try {
    torch::Device d(name.empty() ? std::string("cpu") : name);
    if ((!d.is_cpu() && !d.is_cuda()) || (d.is_cpu() && d.has_index() && d.index() != 0))
      throw InvalidArgument(expected);
    if (d.is_cuda() && !at::hasCUDA())
      throw InvalidArgument("device '" + name +
                            "' requested but no CUDA device is available (LibTorch without "
                            "CUDA, or no GPU)");
    // A missing GPU index would otherwise fail only at the first copy, as a c10::Error.
    const size_t gpus = d.is_cuda() ? torch::cuda::device_count() : 0;
    if (d.is_cuda() && d.has_index() && size_t(d.index()) >= gpus)
      throw InvalidArgument("device '" + name + "' does not exist: " + std::to_string(gpus) +
                            " CUDA device(s), cuda:0 to cuda:" + std::to_string(gpus - 1));
    return d;
  } catch (const InvalidArgument&) {
    throw;
  } catch (const std::exception&) {
    throw InvalidArgument(expected);
  }
}

RunScope::RunScope(const torch::Device& device, int threads)
    : cuda_(device.is_cuda()), tf32Before_(cuda_ && at::globalContext().allowTF32CuDNN()) {
  setThreadCount(threads);
  if (cuda_) at::globalContext().setAllowTF32CuDNN(false);
}

RunScope::~RunScope() {
  if (cuda_) at::globalContext().setAllowTF32CuDNN(tf32Before_);
}

}  // namespace dequnmix
