// Peak memory of LibTorch CPU tensors, counted at the allocator: exact and repeatable,
// unlike the peak RSS, which also holds what malloc keeps after a free and moves by tens
// of MiB between identical runs. Also the number of allocations.
#pragma once

namespace dequnmix::bench {

// Wraps LibTorch's CPU allocator (on the first call) with one that counts the bytes of
// the tensors alive, and starts a new peak at the current count. Tensors allocated before
// the first call are not counted.
void startTensorPeak();

// The most bytes of counted tensors alive at once since startTensorPeak, in MiB, less the
// bytes alive when it was called.
double tensorPeakMiB();

// The CPU tensor allocations since startTensorPeak.
long long tensorAllocations();

}  // namespace dequnmix::bench
