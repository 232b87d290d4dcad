// core/runtime.h: the thread count in effect, 0 meaning every hardware thread.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/runtime.h"

namespace {

TEST(Runtime, SetThreadCountReturnsTheCountInEffect) {
  EXPECT_GE(dequnmix::hardwareThreadCount(), 1);
  EXPECT_EQ(dequnmix::setThreadCount(1), 1);
  EXPECT_EQ(dequnmix::setThreadCount(0), dequnmix::hardwareThreadCount());
  EXPECT_THROW(dequnmix::setThreadCount(-1), dequnmix::InvalidArgument);
}

}  // namespace
