#!/usr/bin/env bash
# deq-unmix against the PyTorch (Python) peer in ../shared/peers/deq_unmix_py at equal
# settings on Samson: VCA endmembers held fixed, no refinement, alpha 0.2, network learning
# rate 0.01, no spatial prox, no anchor term and the linear data term (the paper's map, as
# the peer's), 10 forward
# iterations, backward tolerance 1e-3, the same threads; the two alternate, REPEATS times
# each. Prints every run's seconds per epoch of the epoch loop alone (ours also split into
# the forward and the backward solves; the rest is the loss, the network's gradient and the
# optimiser), mean forward/backward iterations
# and the whole process's user and system CPU seconds, then min and median per
# implementation and the ratio peer / deq-unmix of the medians (above 1: deq-unmix faster).
#
#   bash bench/peer_samson.sh [--epochs N] [--repeats N] [--threads N] [--bin DIR]
#
# Needs the built bench_deq_samson (default build/bench) and Debian's python3-torch and
# python3-scipy for the peer (/usr/bin/python3). The peer's network uses ELU and ours tanh;
# neither warm-starts its backward solve from the previous epoch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
epochs=30 repeats=3 threads=2 bin="${root}/build/bench"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "usage: $0 [--epochs N] [--repeats N] [--threads N] [--bin DIR]" >&2; exit 2 ;;
  esac
done
data="${root}/../shared/data/samson"
peer="${root}/../shared/peers/deq_unmix_py"
[[ -f "${data}/samson.tif" ]] || { echo "no Samson scene at ${data}" >&2; exit 1; }
[[ -f "${peer}/deq_ref.py" ]] || { echo "no peer at ${peer}" >&2; exit 1; }
/usr/bin/python3 -c "import torch, scipy" 2>/dev/null ||
  { echo "the peer needs python3-torch and python3-scipy (apt)" >&2; exit 1; }

timed_ours() { timed "${bin}/bench_deq_samson" --tsv --seeds 1 --epochs "${epochs}" --refine none \
  --alpha 0.2 --lr 0.01 --spatial 0 --anchor 0 --scale-invariance off --iters 10 \
  --backward-tol 1e-3 --threads "${threads}" |
  awk -F'\t' -v e="${epochs}" '$1 == "ROW" && $2 == "DEQ-Unmix" {
    printf "%.4f %s %s %.4f %.4f\n", $11 / e, $9, $10, $12 / e, $13 / e }'; }
timed_theirs() { (cd "${peer}" && timed /usr/bin/python3 deq_ref.py --scene "${data}/samson.tif" \
  --gt-abund "${data}/samson_abundances_gt.tif" --gt-end "${data}/samson_endmembers_gt.csv" \
  --p 3 --epochs "${epochs}" --iters 10 --bwd-tol 1e-3 --lr-e 0 --threads "${threads}") |
  awk '/s\/epoch\)/ { gsub(/[()]/, ""); for (i = 1; i <= NF; ++i) if ($(i+1) == "s/epoch") s = $i }
       /mean fwd iters/ { gsub(/,/, ""); f = $4; b = $8 }
       END { printf "%.4f %s %s\n", s, f, b }'; }

echo "| run | implementation | s/epoch | forward solve s | backward solve s | fwd it | bwd it | user s | sys s |"
echo "|---|---|---|---|---|---|---|---|---|"
declare -a our_times peer_times
timed() { /usr/bin/time -f "%U %S" -o "${TMPDIR:-/tmp}/peer_samson_time" "$@"; }
for ((r = 1; r <= repeats; ++r)); do
  read -r t f b tf tb < <(timed_ours)
  read -r user sys < "${TMPDIR:-/tmp}/peer_samson_time"
  our_times+=("${t}")
  echo "| ${r} | deq-unmix | ${t} | ${tf} | ${tb} | ${f} | ${b} | ${user} | ${sys} |"
  read -r t f b < <(timed_theirs)
  read -r user sys < "${TMPDIR:-/tmp}/peer_samson_time"
  peer_times+=("${t}")
  echo "| ${r} | PyTorch peer | ${t} | - | - | ${f} | ${b} | ${user} | ${sys} |"
done
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.4f %.4f %.1f\n", v[1], m, 100 * (v[NR] - v[1]) / m }'; }
read -r our_min our_median our_spread < <(stats "${our_times[@]}")
read -r peer_min peer_median peer_spread < <(stats "${peer_times[@]}")
echo
echo "Samson, ${epochs} epochs, ${threads} threads, ${repeats} alternating runs each:"
echo "deq-unmix s/epoch min ${our_min} median ${our_median} (spread ${our_spread}%);" \
  "peer min ${peer_min} median ${peer_median} (spread ${peer_spread}%);" \
  "peer / deq-unmix (medians) $(awk -v p="${peer_median}" -v o="${our_median}" 'BEGIN { printf "%.2f", p / o }')x"
