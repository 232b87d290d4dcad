// Data-parallel runs over processes on PyTorch's distributed engine (c10d, its Gloo backend
// over TCP). The standard environment of torchrun and Slurm names this process's place, so
// any launcher starts it; without it everything runs in one process as before.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dequnmix {

struct DistributedEnvironment {
  int rank = 0;                 // RANK (or SLURM_PROCID)
  int worldSize = 1;            // WORLD_SIZE (or SLURM_NTASKS); 1: one process
  std::string masterAddr;       // MASTER_ADDR: rank 0's host, which serves the rendezvous
  int masterPort = 0;           // MASTER_PORT
  double timeoutSeconds = 300;  // DEQUNMIX_DISTRIBUTED_TIMEOUT: rendezvous and each exchange
  bool distributed() const { return worldSize > 1; }
  std::string endpoint() const { return masterAddr + ":" + std::to_string(masterPort); }
};

// RANK and WORLD_SIZE, else SLURM_PROCID and SLURM_NTASKS; with a world size above 1,
// MASTER_ADDR and MASTER_PORT are required. Throws InvalidArgument naming a variable that is
// missing or malformed.
DistributedEnvironment distributedEnvironment();
// The same over `lookup` (a variable's value, or nullptr when unset).
DistributedEnvironment distributedEnvironment(
    const std::function<const char*(const char*)>& lookup);

// One process's membership of the group. Construction blocks until every rank has joined
// (rank 0 serves the rendezvous store); it throws DistributedError naming MASTER_ADDR:
// MASTER_PORT when the others cannot be reached in time, or when this LibTorch has no
// Gloo backend.
class ProcessGroup {
 public:
  explicit ProcessGroup(const DistributedEnvironment& environment);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return environment_.rank; }
  int size() const { return environment_.worldSize; }
  const DistributedEnvironment& environment() const { return environment_; }
  // Waits for every rank (throws DistributedError when one has stopped).
  void barrier();
  // The element-wise sum of every rank's `values` (same length on every rank).
  std::vector<double> sum(std::vector<double> values);

  struct Backend;  // the c10d process group (process_group_ops.h)
  Backend& backend() { return *backend_; }

 private:
  DistributedEnvironment environment_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace dequnmix
