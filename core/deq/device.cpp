// Device parsing and run settings (device.h).
#include "core/deq/device.h"

#include <ATen/Context.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include "core/deq/deq_unmix.h"
#include "core/errors.h"
#include "core/runtime.h"

namespace dequnmix {

bool libtorchHasCuda() { return c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA); }

namespace {

// Why `name` cannot run on CUDA here, or "" when a GPU is there.
std::string cudaUnavailableReason(const std::string& name) {
  if (!libtorchHasCuda())
    return "device '" + name +
           "' needs CUDA, but this build's LibTorch has none (build the "
           "plugin against a CUDA LibTorch, README 'GPU'), or use cpu or auto";
  if (!at::hasCUDA() || torch::cuda::device_count() == 0)
    return "device '" + name +
           "' needs a GPU, but this LibTorch with CUDA sees none (check the "
           "driver with nvidia-smi and CUDA_VISIBLE_DEVICES), or use cpu or auto";
  return {};
}

}  // namespace

torch::Device parseDevice(const std::string& name) {
  if (name == "auto")
    return cudaUnavailableReason(name).empty() ? torch::Device(torch::kCUDA, 0)
                                               : torch::Device(torch::kCPU);
  const std::string expected = "unknown device '" + name + "' (expected auto, cpu, cuda or cuda:N)";
  try {
    torch::Device d(name.empty() ? std::string("cpu") : name);
    if ((!d.is_cpu() && !d.is_cuda()) || (d.is_cpu() && d.has_index() && d.index() != 0))
      throw InvalidArgument(expected);
    if (d.is_cuda() && !cudaUnavailableReason(name).empty())
      throw InvalidArgument(cudaUnavailableReason(name));
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

std::string resolveDevice(const std::string& name) { return parseDevice(name).str(); }

RunScope::RunScope(const torch::Device& device, int threads)
    : cuda_(device.is_cuda()), tf32Before_(cuda_ && at::globalContext().allowTF32CuDNN()) {
  setThreadCount(threads);
  if (cuda_) at::globalContext().setAllowTF32CuDNN(false);
}

RunScope::~RunScope() {
  if (cuda_) at::globalContext().setAllowTF32CuDNN(tf32Before_);
}

}  // namespace dequnmix
