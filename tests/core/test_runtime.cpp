// core/runtime.h: the thread count in effect, 0 meaning every hardware thread, and the
// core's parallel loops on it; the machine's memory and the automatic training memory
// budget built on it.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <fstream>
#include <mutex>
#include <set>
#include <string>

#include "core/deq/deq_unmix.h"
#include "core/errors.h"
#include "core/runtime.h"

namespace {

TEST(Runtime, SetThreadCountReturnsTheCountInEffect) {
  EXPECT_GE(dequnmix::hardwareThreadCount(), 1);
  EXPECT_EQ(dequnmix::setThreadCount(1), 1);
  EXPECT_EQ(dequnmix::setThreadCount(0), dequnmix::hardwareThreadCount());
  EXPECT_THROW(dequnmix::setThreadCount(-1), dequnmix::InvalidArgument);
}

// at::parallel_for is a header template that splits its range only in code compiled with
// the OpenMP LibTorch parallelises with: without it the core's loops (FCLS, the simplex
// projection, VCA) silently ran on one thread.
TEST(Runtime, ParallelLoopsOfTheCoreRunOnTheThreadCount) {
  ASSERT_EQ(dequnmix::setThreadCount(2), 2);
  std::set<int> threads;
  std::mutex m;
  at::parallel_for(0, 2, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(m);
    threads.insert(at::get_thread_num());
  });
  dequnmix::setThreadCount(1);
  EXPECT_EQ(threads.size(), 2u);
}

// Linux also states the memory in /proc/meminfo (kB; MemTotal leaves out a little that
// the kernel keeps, so it is slightly below the physical pages).
TEST(Runtime, PhysicalMemoryAndTheAutomaticBudget) {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0;
  while (meminfo >> key && key != "MemTotal:") meminfo.ignore(1 << 12, '\n');
  if (!(meminfo >> kib)) GTEST_SKIP() << "no /proc/meminfo here";
  const double mib = dequnmix::physicalMemoryMiB();
  EXPECT_GE(mib, kib / 1024);
  EXPECT_LE(mib, 1.1 * kib / 1024);

  dequnmix::DeqTrainOptions o;
  EXPECT_EQ(o.memoryBudgetMiB, 0);
  EXPECT_DOUBLE_EQ(o.memoryBudgetInEffectMiB(), mib / 4);
  o.memoryBudgetMiB = 512;
  EXPECT_EQ(o.memoryBudgetInEffectMiB(), 512);
}

}  // namespace
