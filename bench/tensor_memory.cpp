#include "bench/tensor_memory.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace dequnmix::bench {

namespace {

std::atomic<int64_t> liveBytes{0};
std::atomic<int64_t> peakBytes{0};
std::atomic<int64_t> allocations{0};
int64_t baseBytes = 0;

// The wrapped allocations by data pointer: LibTorch's raw_allocate requires the context of
// a DataPtr to be its data pointer, so the size and the inner DataPtr are kept aside.
struct Allocation {
  c10::DataPtr inner;
  int64_t bytes;
};
std::mutex registryMutex;
std::unordered_map<void*, Allocation>& registry() {
  static auto* map = new std::unordered_map<void*, Allocation>();
  return *map;
}

void release(void* data) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto it = registry().find(data);
  if (it == registry().end()) return;
  liveBytes -= it->second.bytes;
  registry().erase(it);  // frees through the inner DataPtr's deleter
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(size_t n) const override {
    if (n == 0) return base_->allocate(n);  // no memory; its data pointer may be null
    c10::DataPtr inner = base_->allocate(n);
    void* data = inner.get();
    ++allocations;
    const int64_t now = liveBytes += static_cast<int64_t>(n);
    int64_t peak = peakBytes.load();
    while (now > peak && !peakBytes.compare_exchange_weak(peak, now)) {
    }
    {
      std::lock_guard<std::mutex> lock(registryMutex);
      registry().emplace(data, Allocation{std::move(inner), static_cast<int64_t>(n)});
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  c10::Allocator* base_;
};

}  // namespace

void startTensorPeak() {
  static CountingAllocator* counting = [] {
    auto* allocator = new CountingAllocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(allocator, /*priority=*/100);
    return allocator;
  }();
  (void)counting;
  baseBytes = liveBytes.load();
  peakBytes = baseBytes;
  allocations = 0;
}

double tensorPeakMiB() { return double(peakBytes.load() - baseBytes) / (1024.0 * 1024.0); }

long long tensorAllocations() { return allocations.load(); }

}  // namespace dequnmix::bench
