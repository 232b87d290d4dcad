// Data-parallel training on c10d over 127.0.0.1 (core/distributed/process_group.h): 2 and 3
// ranks, each a distributed_worker process, train the network one process trains on the same
// tiles; a rank that dies, or a master nobody serves, stops the others with a clear error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/distributed/process_group.h"
#include "tests/core/distributed/distributed_case.h"
#include "tests/core/test_support.h"

extern char** environ;

namespace dequnmix {
namespace {

int freeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

struct Rank {
  int status = -1;  // exit status; -1 when killed or timed out
  std::string log;  // its stderr
};

// Starts one worker per entry of `ranks` (WORLD_SIZE `world`, the master on 127.0.0.1:port),
// each with its arguments after the model path, and waits for all of them (at most 3 min).
std::vector<Rank> runRanks(int world, int port, const std::vector<int>& ranks,
                           const std::vector<std::vector<std::string>>& arguments,
                           int timeoutSeconds) {
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (size_t i = 0; i < ranks.size(); ++i) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.push_back("RANK=" + std::to_string(ranks[i]));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back("DEQUNMIX_DISTRIBUTED_TIMEOUT=" + std::to_string(timeoutSeconds));
    std::vector<std::string> args{DEQUNMIX_DISTRIBUTED_WORKER};
    args.insert(args.end(), arguments[i].begin(), arguments[i].end());
    auto pointers = [](std::vector<std::string>& v) {
      std::vector<char*> p;
      for (auto& s : v) p.push_back(s.data());
      p.push_back(nullptr);
      return p;
    };
    std::vector<char*> argv = pointers(args), envp = pointers(env);
    // The test's pid in the name: ctest runs the distributed tests as parallel processes.
    logs.push_back(::testing::TempDir() + "/rank" + std::to_string(ranks[i]) + "." +
                   std::to_string(getpid()) + ".log");
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 2, logs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, argv[0], &files, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&files);
    pids.push_back(pid);
  }
  std::vector<Rank> out(ranks.size());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  for (size_t i = 0; i < pids.size(); ++i) {
    int status = 0;
    while (waitpid(pids[i], &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    out[i].status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream log(logs[i]);
    out[i].log.assign(std::istreambuf_iterator<char>(log), {});
    std::remove(logs[i].c_str());
  }
  return out;
}

// The largest weight difference of two models, relative to each tensor's largest weight.
double largestRelativeDifference(const DeqModel& a, const DeqModel& b) {
  EXPECT_EQ(a.weights.size(), b.weights.size());
  double worst = 0;
  for (size_t t = 0; t < std::min(a.weights.size(), b.weights.size()); ++t) {
    float scale = 1e-6f, diff = 0;
    for (size_t i = 0; i < b.weights[t].values.size(); ++i) {
      scale = std::max(scale, std::fabs(b.weights[t].values[i]));
      diff = std::max(diff, std::fabs(a.weights[t].values[i] - b.weights[t].values[i]));
    }
    worst = std::max(worst, double(diff / scale));
  }
  return worst;
}

std::vector<int> allRanks(int world) {
  std::vector<int> r(world);
  for (int i = 0; i < world; ++i) r[i] = i;
  return r;
}

TEST(DistributedEnvironment, ReadsTorchrunAndSlurmVariablesAndNamesBadOnes) {
  auto from = [](std::map<std::string, std::string> vars) {
    return distributedEnvironment([vars](const char* name) -> const char* {
      const auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    });
  };
  EXPECT_FALSE(from({}).distributed());
  EXPECT_FALSE(from({{"WORLD_SIZE", "1"}}).distributed());
  const DistributedEnvironment e = from(
      {{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.worldSize, 3);
  EXPECT_EQ(e.endpoint(), "node7:29500");
  const DistributedEnvironment slurm = from({{"SLURM_PROCID", "1"},
                                             {"SLURM_NTASKS", "4"},
                                             {"MASTER_ADDR", "node1"},
                                             {"MASTER_PORT", "29501"},
                                             {"DEQUNMIX_DISTRIBUTED_TIMEOUT", "30"}});
  EXPECT_EQ(slurm.rank, 1);
  EXPECT_EQ(slurm.worldSize, 4);
  EXPECT_EQ(slurm.timeoutSeconds, 30);
  test::expectThrowWith<InvalidArgument>(
      [&] {
        from({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}});
      },
      {"RANK is '2'", "0 to 1"});
  test::expectThrowWith<InvalidArgument>(
      [&] {
        from({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}});
      },
      {"MASTER_ADDR is not set"});
  test::expectThrowWith<InvalidArgument>(
      [&] {
        from({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "x"}});
      },
      {"MASTER_PORT is 'x'"});
}

// Each rank draws its share of every step's tiles and the gradients are averaged, so N ranks
// with k tiles each train what one process trains with N x k tiles.
TEST(DataParallelTraining, TwoAndThreeRanksTrainTheOneProcessNetwork) {
  const SyntheticScene s = test::distributedCaseScene();
  for (int world : {2, 3}) {
    SCOPED_TRACE("world size " + std::to_string(world));
    const std::string model = ::testing::TempDir() + "/ddp" + std::to_string(world) + ".dequnmix";
    std::remove(model.c_str());
    const std::vector<Rank> ranks =
        runRanks(world, freeLoopbackPort(), allRanks(world),
                 std::vector<std::vector<std::string>>(world, {model, "2"}), 120);
    for (const Rank& r : ranks) ASSERT_EQ(r.status, 0) << r.log;
    const DeqModel parallel = loadDeqModel(model);
    const DeqModel single =
        trainDeqUnmix(test::trainInputOf(s), test::distributedCaseOptions(2 * world)).model;
    // Summation order differs (the mean of per-rank means); Adam's division by the gradient's
    // RMS lifts that to about 1e-4 of a tensor's largest weight (measured 1.1e-4).
    EXPECT_LE(largestRelativeDifference(parallel, single), 1e-3);
    // A rank's share alone trains another network: the comparison can tell.
    const DeqModel share =
        trainDeqUnmix(test::trainInputOf(s), test::distributedCaseOptions(2)).model;
    EXPECT_GT(largestRelativeDifference(parallel, share), 1e-2);
  }
}

// The ranks measure the band noise on their own; rank 0's band weights (here: none) hold on
// every rank, so a rank whose own measure would weigh the bands trains on the same tiles.
TEST(DataParallelTraining, EveryRankTrainsOnRankZerosBandWeights) {
  const SyntheticScene s = test::distributedCaseScene();
  const std::string model = ::testing::TempDir() + "/ddpweights.dequnmix";
  std::remove(model.c_str());
  const std::vector<Rank> ranks =
      runRanks(2, freeLoopbackPort(), {0, 1}, {{model, "2"}, {model, "2", "0", "1"}}, 120);
  for (const Rank& r : ranks) ASSERT_EQ(r.status, 0) << r.log;
  const DeqModel parallel = loadDeqModel(model);
  EXPECT_TRUE(parallel.bandWeights.empty());
  const DeqModel single =
      trainDeqUnmix(test::trainInputOf(s), test::distributedCaseOptions(4)).model;
  EXPECT_LE(largestRelativeDifference(parallel, single), 1e-3);
}

// Likewise rank 0's anomaly screen: on a scene with two spiked pixels, a rank told never to
// screen still leaves out the pixels rank 0 found, so the run trains the network of a run
// where both ranks screen.
TEST(DataParallelTraining, EveryRankLeavesOutRankZerosAnomalies) {
  EXPECT_EQ(trainDeqUnmix(test::trainInputOf(test::distributedCaseScene(2)),
                          test::distributedCaseOptions(4))
                .anomalousPixels,
            2);
  const std::string spread = std::to_string(DeqTrainOptions().automaticWhiteningSpread);
  const std::string ratio = std::to_string(DeqTrainOptions().anomalyResidualRatio);
  auto run = [&](const std::string& name, const std::string& rankOneRatio) {
    const std::string model = ::testing::TempDir() + "/" + name + ".dequnmix";
    std::remove(model.c_str());
    const std::vector<Rank> ranks = runRanks(
        2, freeLoopbackPort(), {0, 1},
        {{model, "2", "0", spread, ratio, "2"}, {model, "2", "0", spread, rankOneRatio, "2"}}, 120);
    for (const Rank& r : ranks) EXPECT_EQ(r.status, 0) << r.log;
    return loadDeqModel(model);
  };
  EXPECT_LE(largestRelativeDifference(run("ddpscreened", ratio), run("ddpunscreened", "0")), 1e-6);
}

// Pixels left out (here the two spiked ones) make the ranks' tiles count different pixels: the
// ranks' gradients are weighted by their valid pixels, so the run still trains the network of
// one process whose steps take the mean over all the step's pixels (0.026 relative weight
// difference with equal rank weights).
TEST(DataParallelTraining, RanksWithFewerValidPixelsWeighLess) {
  const SyntheticScene s = test::distributedCaseScene(2);
  const std::string spread = std::to_string(DeqTrainOptions().automaticWhiteningSpread);
  const std::string ratio = std::to_string(DeqTrainOptions().anomalyResidualRatio);
  const std::string model = ::testing::TempDir() + "/ddpvalid.dequnmix";
  std::remove(model.c_str());
  const std::vector<std::string> arguments{model, "2", "0", spread, ratio, "2"};
  const std::vector<Rank> ranks =
      runRanks(2, freeLoopbackPort(), {0, 1}, {arguments, arguments}, 120);
  for (const Rank& r : ranks) ASSERT_EQ(r.status, 0) << r.log;
  const DeqModel single =
      trainDeqUnmix(test::trainInputOf(s), test::distributedCaseOptions(4)).model;
  EXPECT_LE(largestRelativeDifference(loadDeqModel(model), single), 1e-3);
}

TEST(DataParallelTraining, ALostRankStopsEveryRankAndNoModelIsWritten) {
  const std::string model = ::testing::TempDir() + "/lost.dequnmix";
  std::remove(model.c_str());
  const std::vector<Rank> ranks =
      runRanks(2, freeLoopbackPort(), {0, 1}, {{model, "2"}, {model, "2", "0.5"}}, 20);
  EXPECT_EQ(ranks[1].status, 3);  // died abruptly
  EXPECT_EQ(ranks[0].status, 1) << ranks[0].log;
  for (const char* word : {"data-parallel rank 0 of 2", "another rank stopped", "Every rank stops"})
    EXPECT_NE(ranks[0].log.find(word), std::string::npos) << word << " in: " << ranks[0].log;
  EXPECT_FALSE(std::ifstream(model).good());
}

TEST(DataParallelTraining, AMasterNobodyServesIsNamedAfterTheTimeout) {
  const int port = freeLoopbackPort();
  const std::vector<Rank> ranks =
      runRanks(2, port, {1}, {{::testing::TempDir() + "/none.dequnmix", "2"}}, 2);
  EXPECT_EQ(ranks[0].status, 1);
  const std::string endpoint = "127.0.0.1:" + std::to_string(port);
  for (const std::string& word :
       {std::string("rank 1 of 2"), endpoint, std::string("MASTER_ADDR:MASTER_PORT")})
    EXPECT_NE(ranks[0].log.find(word), std::string::npos) << word << " in: " << ranks[0].log;
}

}  // namespace
}  // namespace dequnmix
