// Data-parallel training on one machine: the same training run as 1, 2, ... processes
// (--ranks, default 1,2; --threads LibTorch threads each, default 1) over c10d on
// 127.0.0.1, each rank an instance of this executable started with RANK, WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT. Every run trains on random tiles, tilesPerStep per rank, so
// an epoch covers the scene once in total and N ranks take 1/N of the steps each. Prints the
// median seconds per epoch (rank 0's epoch loop), the steps per epoch and the speed-up over
// the first entry of --ranks. Core only (no GDAL). Options: --help.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/arguments.h"
#include "core/deq/deq_unmix.h"
#include "core/distributed/process_group.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;

namespace {

struct Args {
  std::string ranks = "1,2";
  int size = 128, bands = 100, endmembers = 4, epochs = 6, tile = 32, tiles = 4, threads = 1;
  bool child = false;
};

DeqTrainOptions trainingOptions(const Args& a) {
  DeqTrainOptions o;
  o.endmembers = a.endmembers;
  o.epochs = a.epochs;
  o.threads = a.threads;
  o.seed = 3;
  o.tileSize = a.tile;
  o.tilesPerStep = a.tiles;
  o.memoryBudgetMiB = 1e-6;  // tiles in the one-process run too
  return o;
}

// One rank: trains and, on rank 0, prints "EPOCHS s1 s2 ..." and "STEPS n".
int runRank(const Args& a) {
  SyntheticOptions so;
  so.width = so.height = a.size;
  so.bands = a.bands;
  so.endmembers = a.endmembers;
  so.seed = 8;
  const SyntheticScene s = generateSyntheticScene(so);
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = s.scene;
  const DistributedEnvironment env = distributedEnvironment();
  std::unique_ptr<ProcessGroup> group;
  if (env.distributed()) group = std::make_unique<ProcessGroup>(env);
  DeqInferOptions skipFinalPass;
  skipFinalPass.solver.maxIterations = 1;
  const DeqTrainResult r =
      trainDeqUnmix(in, trainingOptions(a), skipFinalPass, nullptr, group.get());
  if (env.rank != 0) return 0;
  std::printf("EPOCHS");
  for (const auto& e : r.epochs) std::printf(" %.4f", e.seconds);
  std::printf("\nSTEPS %lld\n", (long long)r.epochs.front().forward.solves);
  return 0;
}

// Starts `world` ranks of this executable and returns rank 0's output.
std::string runRanks(const Args& a, int world, int port) {
  std::ostringstream cmd;
  const std::string out = "/tmp/bench_data_parallel_" + std::to_string(port) + ".txt";
  for (int r = 0; r < world; ++r)
    cmd << "RANK=" << r << " WORLD_SIZE=" << world << " MASTER_ADDR=127.0.0.1 MASTER_PORT=" << port
        << " /proc/" << getpid() << "/exe --child --size " << a.size << " --bands " << a.bands
        << " --endmembers " << a.endmembers << " --epochs " << a.epochs << " --tile " << a.tile
        << " --tiles " << a.tiles << " --threads " << a.threads << (r == 0 ? " > " + out : "")
        << " & ";
  cmd << "wait";
  if (std::system(cmd.str().c_str()) != 0) return "";
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  std::remove(out.c_str());
  return text;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::Arguments args("bench_data_parallel",
                        "Training epoch time over 1, 2, ... processes on c10d (127.0.0.1).");
  args.option("--ranks", a.ranks, "LIST", "process counts to compare, the first the reference");
  args.option("--size", a.size, "N", "synthetic scene width and height");
  args.option("--bands", a.bands, "B", "bands");
  args.option("--endmembers", a.endmembers, "P", "endmembers");
  args.option("--epochs", a.epochs, "N", "epochs");
  args.option("--tile", a.tile, "T", "training tile side");
  args.option("--tiles", a.tiles, "K", "tiles per step on each rank");
  args.option("--threads", a.threads, "N", "LibTorch threads per process");
  args.flag("--child", a.child, "internal: one rank");
  args.parseOrExit(argc, argv);
  try {
    if (a.child) return runRank(a);
    std::printf(
        "| processes | threads each | s/epoch (median, epochs 2..) | steps/epoch/rank | speed-up "
        "|\n|---|---|---|---|---|\n");
    std::stringstream list(a.ranks);
    double reference = 0;
    int port = 29700 + getpid() % 1000;
    for (std::string item; std::getline(list, item, ',');) {
      const int world = std::atoi(item.c_str());
      std::istringstream out(runRanks(a, world, port++));
      std::vector<double> epochs;
      long long steps = 0;
      for (std::string key; out >> key;) {
        if (key == "STEPS") out >> steps;
        if (key != "EPOCHS") continue;
        for (int e = 0; e < a.epochs; ++e) {
          double s = 0;
          out >> s;
          if (e > 0) epochs.push_back(s);  // the first epoch warms up
        }
      }
      const double m = median(epochs);
      if (reference == 0) reference = m;
      std::printf("| %d | %d | %.3f | %lld | %.2fx |\n", world, a.threads, m, steps,
                  m > 0 ? reference / m : 0.0);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data_parallel: %s\n", e.what());
    return 1;
  }
}
