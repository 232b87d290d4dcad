// Process groups on c10d's Gloo backend (process_group.h, process_group_ops.h).
#include "core/distributed/process_group.h"

#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "core/distributed/process_group_ops.h"
#include "core/errors.h"

#ifdef DEQUNMIX_HAS_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace dequnmix {

namespace {

int integerVariable(const std::function<const char*(const char*)>& lookup, const char* name,
                    int low, int high) {
  const char* text = lookup(name);
  char* end = nullptr;
  const long value = text ? std::strtol(text, &end, 10) : 0;
  if (!text || end == text || *end != '\0' || value < low || value > high)
    throw InvalidArgument(std::string(name) + " is '" + (text ? text : "") +
                          "' but a data-parallel run needs an integer from " + std::to_string(low) +
                          " to " + std::to_string(high));
  return int(value);
}

}  // namespace

DistributedEnvironment distributedEnvironment(
    const std::function<const char*(const char*)>& lookup) {
  DistributedEnvironment e;
  const bool torchrun = lookup("WORLD_SIZE") != nullptr;
  if (!torchrun && !lookup("SLURM_NTASKS")) return e;
  const char* worldName = torchrun ? "WORLD_SIZE" : "SLURM_NTASKS";
  e.worldSize = integerVariable(lookup, worldName, 1, 65536);
  if (!e.distributed()) return e;
  e.rank = integerVariable(lookup, torchrun ? "RANK" : "SLURM_PROCID", 0, e.worldSize - 1);
  const char* addr = lookup("MASTER_ADDR");
  if (!addr || !*addr)
    throw InvalidArgument(std::string(worldName) + " is " + std::to_string(e.worldSize) +
                          " but MASTER_ADDR is not set: give rank 0's host name or address");
  e.masterAddr = addr;
  e.masterPort = integerVariable(lookup, "MASTER_PORT", 1, 65535);
  if (lookup("DEQUNMIX_DISTRIBUTED_TIMEOUT"))
    e.timeoutSeconds = integerVariable(lookup, "DEQUNMIX_DISTRIBUTED_TIMEOUT", 1, 86400);
  return e;
}

DistributedEnvironment distributedEnvironment() {
  return distributedEnvironment([](const char* name) { return std::getenv(name); });
}

#ifdef DEQUNMIX_HAS_GLOO

struct ProcessGroup::Backend {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

// Every exchange fails the same way: this rank stops, and so does every other.
[[noreturn]] void fail(const DistributedEnvironment& e, const std::string& what,
                       const std::exception& cause) {
  std::string reason = cause.what();
  reason = reason.substr(0, reason.find('\n'));
  throw DistributedError("data-parallel rank " + std::to_string(e.rank) + " of " +
                         std::to_string(e.worldSize) + ": " + what + " failed (" + reason +
                         "); another rank stopped, or MASTER_ADDR:MASTER_PORT (" + e.endpoint() +
                         ") cannot be reached. Every rank stops; no output is complete");
}

std::shared_ptr<gloo::transport::Device> glooDevice(const DistributedEnvironment& e) {
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  const bool loopback = e.masterAddr == "127.0.0.1" || e.masterAddr == "localhost";
  return loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                  : c10d::ProcessGroupGloo::createDefaultDevice();
}

template <typename Exchange>
void exchange(ProcessGroup& group, const std::string& what, Exchange&& run) {
  try {
    run(*group.backend().group)->wait();
  } catch (const std::exception& e) {
    fail(group.environment(), what, e);
  }
}

}  // namespace

ProcessGroup::ProcessGroup(const DistributedEnvironment& environment)
    : environment_(environment), backend_(std::make_unique<Backend>()) {
  const auto timeout = std::chrono::milliseconds(int64_t(environment.timeoutSeconds * 1000));
  c10d::TCPStoreOptions store;
  store.port = uint16_t(environment.masterPort);
  store.isServer = environment.rank == 0;
  store.numWorkers = size_t(environment.worldSize);
  store.timeout = timeout;
  try {
    backend_->store = c10::make_intrusive<c10d::TCPStore>(environment.masterAddr, store);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(glooDevice(environment));
    backend_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(backend_->store, environment.rank,
                                                                  environment.worldSize, options);
  } catch (const std::exception& e) {
    fail(environment, "joining the group at MASTER_ADDR:MASTER_PORT", e);
  }
}

void ProcessGroup::barrier() {
  exchange(*this, "a barrier", [](c10d::ProcessGroupGloo& g) { return g.barrier(); });
}

std::vector<double> ProcessGroup::sum(std::vector<double> values) {
  std::vector<torch::Tensor> buffer{
      torch::from_blob(values.data(), {int64_t(values.size())}, torch::kFloat64).clone()};
  exchange(*this, "summing the statistics",
           [&](c10d::ProcessGroupGloo& g) { return g.allreduce(buffer); });
  std::copy_n(buffer[0].data_ptr<double>(), values.size(), values.begin());
  return values;
}

void averageOverRanks(ProcessGroup& group, const std::vector<torch::Tensor>& tensors,
                      double weight) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}).to(torch::kCPU) * weight);
  flat.push_back(torch::full({1}, weight, flat.front().options()));
  std::vector<torch::Tensor> buffer{torch::cat(flat)};
  exchange(group, "averaging the gradients",
           [&](c10d::ProcessGroupGloo& g) { return g.allreduce(buffer); });
  const double total = buffer[0][-1].item<double>();
  buffer[0].div_(total > 0 ? total : 1.0);  // no rank had a weight: every sum is zero
  int64_t at = 0;
  torch::NoGradGuard noGrad;
  for (const auto& t : tensors) {
    t.copy_(buffer[0].narrow(0, at, t.numel()).view_as(t));
    at += t.numel();
  }
}

void broadcastFromRankZero(ProcessGroup& group, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard noGrad;
  for (const auto& t : tensors) {
    std::vector<torch::Tensor> buffer{t.detach().contiguous().to(torch::kCPU)};
    exchange(group, "receiving rank 0's tensors",
             [&](c10d::ProcessGroupGloo& g) { return g.broadcast(buffer); });
    t.copy_(buffer[0]);
  }
}

#else  // a LibTorch without c10d's Gloo headers: one process only

struct ProcessGroup::Backend {};

ProcessGroup::ProcessGroup(const DistributedEnvironment& environment)
    : environment_(environment), backend_(std::make_unique<Backend>()) {
  throw DistributedError("WORLD_SIZE is " + std::to_string(environment.worldSize) +
                         " but this build has no c10d Gloo backend (install libgloo-dev and "
                         "rebuild), so it runs in one process only");
}

void ProcessGroup::barrier() {}
std::vector<double> ProcessGroup::sum(std::vector<double> values) { return values; }
void averageOverRanks(ProcessGroup&, const std::vector<torch::Tensor>&, double) {}
void broadcastFromRankZero(ProcessGroup&, const std::vector<torch::Tensor>&) {}

#endif

ProcessGroup::~ProcessGroup() = default;

}  // namespace dequnmix
