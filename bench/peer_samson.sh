#!/usr/bin/env bash
# deq-unmix against the PyTorch (Python) peer in ../shared/peers/deq_unmix_py at equal
# settings on Samson: VCA endmembers held fixed, no refinement, alpha 0.2, network learning
# rate 0.01, no spatial prox, no anchor term and the linear data term (the paper's map, as
# the peer's), a tanh network (the peer's --act tanh), 10 forward iterations, backward
# tolerance 1e-3, the same threads. The runs alternate, REPEATS times each.
#
# Starts, the one setting the two do not share: ours starts each training forward solve at
# the previous step's fixed point and each backward solve at the previous step's solution;
# the peer can warm-start the forward solve (--warm-start) but not the backward one. So the
# epoch loop runs in three pairings: both cold (every solve from FCLS / from g), both
# forward-warm (ours with --cold-backward), and ours as shipped (both warm) against the peer
# forward-warm. Per run: seconds per epoch of the epoch loop alone (ours also split into the
# forward and the backward solves; the rest is the loss, the network's gradient and the
# optimiser), mean forward/backward iterations, the process's user and system CPU seconds;
# then min, median and spread per configuration and the ratio peer / deq-unmix of the medians
# (above 1: deq-unmix faster).
#
# --whole also times whole runs (wall seconds, start to exit): `qgis_process run
# dequnmix:train` with the same settings (and the peer's final estimate: 10 inference
# iterations) against the peer's whole deq_ref.py run, cold and forward-warm. It needs the
# plugin installed (scripts/install-plugin.sh) in the profile of --profiles-path (default
# QGIS's own settings root).
#
#   bash bench/peer_samson.sh [--epochs N] [--repeats N] [--threads N] [--bin DIR]
#                             [--whole] [--profiles-path DIR]
#
# Needs the built bench_deq_samson (default build/bench) and Debian's python3-torch and
# python3-scipy for the peer (/usr/bin/python3).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
root="${DEQUNMIX_ROOT}"
epochs=30 repeats=3 threads=2 bin="${root}/build/bench" whole=0
profiles_path="$(default_profiles_path)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --whole) whole=1; shift ;;
    --profiles-path) profiles_path="$2"; shift 2 ;;
    *) die "usage: $0 [--epochs N] [--repeats N] [--threads N] [--bin DIR] [--whole]" \
         "[--profiles-path DIR]" ;;
  esac
done
data="${root}/../shared/data/samson"
peer="${root}/../shared/peers/deq_unmix_py"
[[ -f "${data}/samson.tif" ]] || die "no Samson scene at ${data}"
[[ -f "${peer}/deq_ref.py" ]] || die "no peer at ${peer}"
/usr/bin/python3 -c "import torch, scipy" 2>/dev/null ||
  die "the peer needs python3-torch and python3-scipy (apt)"
times_file="${TMPDIR:-/tmp}/peer_samson_time.$$"
trap 'rm -f "${times_file}"' EXIT
timed() { /usr/bin/time -f "%e %U %S" -o "${times_file}" "$@"; }

# ours START...: one epoch loop; prints s/epoch, fwd it, bwd it, fwd s/epoch, bwd s/epoch.
ours() {
  timed "${bin}/bench_deq_samson" --tsv --seeds 1 --epochs "${epochs}" --refine none \
    --alpha 0.2 --lr 0.01 --spatial 0 --anchor 0 --scale-invariance off --iters 10 \
    --backward-tol 1e-3 --threads "${threads}" "$@" |
    awk -F'\t' -v e="${epochs}" '$1 == "ROW" && $2 == "DEQ-Unmix" {
      printf "%.4f %s %s %.4f %.4f\n", $11 / e, $9, $10, $12 / e, $13 / e }'
}
peer_args=(--scene "${data}/samson.tif" --gt-abund "${data}/samson_abundances_gt.tif"
  --gt-end "${data}/samson_endmembers_gt.csv" --p 3 --epochs "${epochs}" --iters 10
  --bwd-tol 1e-3 --lr-e 0 --act tanh --threads "${threads}")
# theirs [--warm-start]: prints s/epoch, fwd it, bwd it.
theirs() {
  (cd "${peer}" && timed /usr/bin/python3 deq_ref.py "${peer_args[@]}" "$@") |
    awk '/s\/epoch\)/ { gsub(/[()]/, ""); for (i = 1; i <= NF; ++i) if ($(i+1) == "s/epoch") s = $i }
         /mean fwd iters/ { gsub(/,/, ""); f = $4; b = $8 }
         END { printf "%.4f %s %s - -\n", s, f, b }'
}
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.4f %.4f %.1f\n", v[1], m, 100 * (v[NR] - v[1]) / m }'
}
ratio() { awk -v p="$1" -v o="$2" 'BEGIN { printf "%.2f", p / o }'; }
# summarise LABELS SAMPLES MEDIANS (array names): a table row per configuration (min, median,
# spread of its samples) and each median into MEDIANS.
summarise() {
  local -n names="$1" values="$2" medians="$3"
  local c lo mid spread
  echo "| configuration | min | median | spread % |"
  echo "|---|---|---|---|"
  for ((c = 0; c < ${#names[@]}; ++c)); do
    # shellcheck disable=SC2086
    read -r lo mid spread < <(stats ${values[${c}]})
    # shellcheck disable=SC2034  # a nameref: the caller's array
    medians[c]="${mid}"
    echo "| ${names[c]} | ${lo} | ${mid} | ${spread} |"
  done
}

labels=("deq-unmix, cold starts" "peer, cold starts" "deq-unmix, forward-warm"
  "peer, forward-warm" "deq-unmix as shipped (both warm)")
run_config() {
  case "$1" in
    0) ours --cold-start --cold-backward ;;
    1) theirs ;;
    2) ours --cold-backward ;;
    3) theirs --warm-start ;;
    4) ours ;;
  esac
}
declare -A samples
echo "| run | configuration | s/epoch | forward solve s | backward solve s | fwd it | bwd it | user s | sys s |"
echo "|---|---|---|---|---|---|---|---|---|"
for ((r = 1; r <= repeats; ++r)); do
  for c in 0 1 2 3 4; do
    read -r t f b tf tb < <(run_config "${c}")
    read -r _ user sys < "${times_file}"
    samples[${c}]+="${t} "
    echo "| ${r} | ${labels[c]} | ${t} | ${tf} | ${tb} | ${f} | ${b} | ${user} | ${sys} |"
  done
done

echo
echo "Samson, ${epochs} epochs, ${threads} threads, ${repeats} alternating runs each (s/epoch):"
declare -a median
summarise labels samples median
echo
echo "peer / deq-unmix (medians): cold starts $(ratio "${median[1]}" "${median[0]}")x;" \
  "forward-warm $(ratio "${median[3]}" "${median[2]}")x;" \
  "as shipped against the peer forward-warm $(ratio "${median[3]}" "${median[4]}")x"

[[ "${whole}" == 1 ]] || exit 0

# Whole runs: wall seconds, start to exit, written to times_file (run_qgis_process is a shell
# function, which /usr/bin/time cannot run).
wall_timed() {
  local start end status=0
  start="$(date +%s.%N)"
  "$@" || status=$?
  end="$(date +%s.%N)"
  awk -v a="${start}" -v b="${end}" 'BEGIN { printf "%.2f\n", b - a }' > "${times_file}"
  return "${status}"
}
qgis_train() {
  local out
  out="$(mktemp -d "${TMPDIR:-/tmp}/peer_samson_qgis.XXXXXX")"
  wall_timed run_qgis_process "${profiles_path}" default run dequnmix:train -- \
    INPUT="${data}/samson.tif" ENDMEMBERS=3 EPOCHS="${epochs}" THREADS="${threads}" \
    REFINEMENT=none ALPHA=0.2 NETWORK_LEARNING_RATE=0.01 SPATIAL_WEIGHT=0 ANCHOR_WEIGHT=0 \
    SCALE_INVARIANT=off MAX_ITERATIONS=10 INFERENCE_MAX_ITERATIONS=10 \
    OUTPUT_MODEL="${out}/model.dequnmix" OUTPUT="${out}/abundances.tif" \
    OUTPUT_ENDMEMBERS="${out}/endmembers.csv" OUTPUT_REPORT="${out}/report.html" > /dev/null 2>&1 ||
    { rm -rf "${out}"; die "qgis_process run dequnmix:train failed (is the plugin installed?)"; }
  rm -rf "${out}"
}
# shellcheck disable=SC2034  # read through summarise's nameref
whole_labels=("qgis_process run dequnmix:train" "peer deq_ref.py, cold starts"
  "peer deq_ref.py, forward-warm")
declare -A walls
for ((r = 1; r <= repeats; ++r)); do
  qgis_train
  read -r wall _ < "${times_file}"; walls[0]+="${wall} "
  (cd "${peer}" && wall_timed /usr/bin/python3 deq_ref.py "${peer_args[@]}" > /dev/null)
  read -r wall _ < "${times_file}"; walls[1]+="${wall} "
  (cd "${peer}" && wall_timed /usr/bin/python3 deq_ref.py "${peer_args[@]}" --warm-start > /dev/null)
  read -r wall _ < "${times_file}"; walls[2]+="${wall} "
done
echo
echo "Whole runs, Samson, ${epochs} epochs, ${threads} threads, ${repeats} alternating runs each (wall s):"
declare -a whole_median
summarise whole_labels walls whole_median
echo
echo "peer / qgis_process (medians): against the peer cold $(ratio "${whole_median[1]}" "${whole_median[0]}")x;" \
  "forward-warm $(ratio "${whole_median[2]}" "${whole_median[0]}")x"
