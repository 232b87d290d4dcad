#!/usr/bin/env bash
# Runs every case of issue 5 side by side in one run and writes one Markdown report
# (default bench/out/results.md; also printed):
#   - per dataset (Samson when ../shared/data/samson is present; synthetic 64 x 64 x 100,
#     P = 4, max abundance 0.8, no pure pixels, at 15 dB and 30 dB) and method: VCA+FCLS,
#     Orfeo ToolBox VCA+UCLS (synthetic scenes, when otbcli_* is installed), DEQ-Unmix
#     implicit / phantom / unrolled with the default settings: mSAD (rad, deg),
#     aRMSE (global and mean per endmember), training seconds and peak memory, mean and
#     spread over the seeds;
#   - the memory-versus-iterations table (bench_deq_ablation, implicit vs unrolled);
#   - the large-scene streamed inference (bench_deq_inference_large, 2048 x 2048 x 200);
#   - the date, the machine (nproc, CPU model) and the commit.
# Build the benchmarks first (see bench/README.md). Usage: bash bench/run_all.sh --help
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() {
  cat <<'EOF'
Usage: bash bench/run_all.sh [options]
  --quick              smoke test: 2 epochs, 1 seed, ablation 2 epochs at 5,10 iterations,
                       inference on 256 x 256 (tiles 128), 1 epoch for its model
  --epochs N           DEQ-Unmix training epochs (default: the core default, 300)
  --seeds LIST         comma-separated seeds (default 1,2,3)
  --other-seeds LIST   seeds of the phantom and unrolled modes (default: --seeds); on 2
                       cores, 1 keeps the full run near an hour
  --modes LIST         gradient modes (default implicit,phantom,unrolled)
  --ablation-epochs N  epochs per ablation run (default 6)
  --ablation-iters L   forward iterations of the ablation (default 5,10,20,40)
  --size N             side of the large inference scene (default 2048)
  --bands N            bands of the large inference scene (default 200)
  --tile N             inference tile side (default 256)
  --data DIR           Samson folder (default ../shared/data/samson)
  --bin DIR            benchmark executables (default: build-bench/bench, build/bench or
                       build-bench2/bench, the first that holds them)
  --out FILE           Markdown report (default bench/out/results.md)
  --no-samson --no-synthetic --no-otb --no-ablation --no-large   skip a part
EOF
}

EPOCHS=""
SEEDS="1,2,3"
OTHER_SEEDS=""
ARGS="$*"
MODES="implicit,phantom,unrolled"
ABL_EPOCHS=6
ABL_ITERS="5,10,20,40"
SIZE=2048
BANDS=200
TILE=256
LARGE_EPOCHS=3
DATA="$ROOT/../shared/data/samson"
BIN=""
OUT="bench/out/results.md"
QUICK=0
DO_SAMSON=1 DO_SYNTH=1 DO_OTB=1 DO_ABL=1 DO_LARGE=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick)
      QUICK=1 EPOCHS=2 SEEDS=1 ABL_EPOCHS=2 ABL_ITERS="5,10" SIZE=256 TILE=128 LARGE_EPOCHS=1
      ;;
    --epochs) EPOCHS=$2; shift ;;
    --seeds) SEEDS=$2; shift ;;
    --other-seeds) OTHER_SEEDS=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --ablation-epochs) ABL_EPOCHS=$2; shift ;;
    --ablation-iters) ABL_ITERS=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --bands) BANDS=$2; shift ;;
    --tile) TILE=$2; shift ;;
    --data) DATA=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-samson) DO_SAMSON=0 ;;
    --no-synthetic) DO_SYNTH=0 ;;
    --no-otb) DO_OTB=0 ;;
    --no-ablation) DO_ABL=0 ;;
    --no-large) DO_LARGE=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ -z "$BIN" ]]; then
  for dir in build-bench/bench build/bench build-bench2/bench; do
    if [[ -x "$dir/bench_deq_samson" && -x "$dir/bench_deq_inference_large" ]]; then
      BIN=$dir
      break
    fi
  done
fi
for exe in bench_deq_samson bench_deq_ablation bench_classical_vs_otb bench_deq_inference_large; do
  if [[ ! -x "$BIN/$exe" ]]; then
    echo "run_all.sh: $exe not found in '${BIN:-build-bench/bench}'; build the benchmarks" \
      "first (bench/README.md) or pass --bin DIR" >&2
    exit 1
  fi
done

WORK=bench/out/run_all
mkdir -p "$WORK" "$(dirname "$OUT")"
ROWS=$WORK/rows.tsv  # dataset, method, seed, mSAD rad, aRMSE, aRMSE mean, train s, peak MiB
: >"$ROWS"
NOTES=$WORK/notes.md
: >"$NOTES"
: >"$WORK/stderr.log"
START=$(date +%s)
log() { echo "[run_all $(($(date +%s) - START)) s] $*" >&2; }

epochs_args=()
if [[ -n "$EPOCHS" ]]; then epochs_args=(--epochs "$EPOCHS"); fi

# deq_config DATASET LABEL FIRST ARGS...: every gradient mode of one configuration;
# VCA+FCLS rows are kept when FIRST is 1, the refined-E rows from the first mode.
deq_config() {
  local dataset=$1 label=$2 first=$3
  shift 3
  local mode k=0
  IFS=, read -ra mode_list <<<"$MODES"
  for mode in "${mode_list[@]}"; do
    log "$dataset: DEQ-Unmix $mode ($label)"
    local out
    local seeds=$SEEDS
    if [[ $mode != implicit && -n "$OTHER_SEEDS" ]]; then seeds=$OTHER_SEEDS; fi
    out=$("$BIN/bench_deq_samson" --tsv --seeds "$seeds" "${epochs_args[@]}" \
      --gradient "$mode" "$@" 2>>"$WORK/stderr.log") || true
    while IFS=$'\t' read -r tag method seed msad armse armsem secs peak _; do
      [[ "$tag" == ROW ]] || continue
      case "$method" in
        VCA+FCLS) [[ $first == 1 && $k == 0 ]] || continue ;;
        "refined E + FCLS")
          [[ $k == 0 ]] || continue
          method="refined E + FCLS (DEQ start, $label)"
          ;;
        DEQ-Unmix) method="DEQ-Unmix $mode ($label)" ;;
      esac
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dataset" "$method" "$seed" "$msad" "$armse" \
        "$armsem" "$secs" "$peak" >>"$ROWS"
    done <<<"$out"
    k=$((k + 1))
  done
}

# otb_rows DATASET SNR: Orfeo ToolBox VCA+UCLS on the same synthetic scene (seed 42).
otb_rows() {
  local dataset=$1 snr=$2 out
  if ! command -v otbcli_HyperspectralUnmixing >/dev/null 2>&1; then
    echo "- $dataset: Orfeo ToolBox not installed (otb-bin), no OTB row." >>"$NOTES"
    return
  fi
  log "$dataset: Orfeo ToolBox VCA+UCLS"
  out=$("$BIN/bench_classical_vs_otb" --width 64 --height 64 --bands 100 --endmembers 4 \
    --snr "$snr" --max-abundance 0.8 --no-pure-pixels --seed 42 --threads 2 --tsv \
    --out "$WORK/otb_${snr}dB" 2>>"$WORK/stderr.log") || true
  while IFS=$'\t' read -r tag method seed msad armse armsem secs _; do
    [[ "$tag" == ROW && "$method" == OTB* ]] || continue
    if [[ "$method" == "OTB VCA+UCLS" ]]; then
      method="$method (end-to-end s)"
    else
      method="$method (unmixing CLI s)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dataset" "$method" "$seed" \
      "$msad" "$armse" "$armsem" "$secs" "-" >>"$ROWS"
  done <<<"$out"
}

# otb_samson: Orfeo ToolBox VCA+UCLS on samson.tif (P = 3, VCA seed 42, 2 threads), timed
# here and scored by bench_deq_samson --score-endmembers/--score-abundances.
otb_samson() {
  if ! command -v otbcli_HyperspectralUnmixing >/dev/null 2>&1; then
    echo "- Samson: Orfeo ToolBox not installed (otb-bin), no OTB row." >>"$NOTES"
    return
  fi
  log "Samson: Orfeo ToolBox VCA+UCLS"
  local dir=$WORK/otb_samson t0 secs out
  mkdir -p "$dir"
  t0=$(date +%s.%N)
  if ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 otbcli_VertexComponentAnalysis -in "$DATA/samson.tif" \
    -ne 3 -rand 42 -outendm "$dir/endmembers.tif" double >"$dir/vca.log" 2>&1 &&
    ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2 otbcli_HyperspectralUnmixing -in "$DATA/samson.tif" \
      -ie "$dir/endmembers.tif" -out "$dir/abundances.tif" float -ua ucls >"$dir/unmixing.log" 2>&1
  then
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    out=$("$BIN/bench_deq_samson" --data "$DATA" --tsv --score-endmembers "$dir/endmembers.tif" \
      --score-abundances "$dir/abundances.tif" --score-label "OTB VCA+UCLS" \
      --score-seconds "$secs" 2>>"$WORK/stderr.log") || true
    while IFS=$'\t' read -r tag method seed msad armse armsem secs _; do
      [[ "$tag" == ROW ]] || continue
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "Samson" "$method (end-to-end s)" "$seed" \
        "$msad" "$armse" "$armsem" "$secs" "-" >>"$ROWS"
    done <<<"$out"
  else
    echo "- Samson: Orfeo ToolBox failed (logs in $dir), no OTB row." >>"$NOTES"
  fi
}

if [[ $DO_SAMSON == 1 ]]; then
  if [[ -f "$DATA/samson.tif" ]]; then
    deq_config "Samson" "defaults" 1 --data "$DATA"
    if [[ $DO_OTB == 1 ]]; then otb_samson; fi
  else
    echo "- Samson: no data in $DATA, skipped." >>"$NOTES"
  fi
fi
if [[ $DO_SYNTH == 1 ]]; then
  for snr in 15 30; do
    name="synthetic $snr dB"
    synth=(--synthetic "$snr" --size 64 --max-abundance 0.8)
    deq_config "$name" "defaults" 1 "${synth[@]}"
    if [[ $DO_OTB == 1 ]]; then otb_rows "$name" "$snr"; fi
  done
fi

ablation=""
if [[ $DO_ABL == 1 ]]; then
  log "ablation: implicit vs unrolled at $ABL_ITERS iterations"
  ablation=$("$BIN/bench_deq_ablation" --epochs "$ABL_EPOCHS" --iters "$ABL_ITERS" --data "$DATA" \
    2>>"$WORK/stderr.log" | sed 's/^## /### /') || true
fi
large=""
if [[ $DO_LARGE == 1 ]]; then
  log "large-scene inference: $SIZE x $SIZE x $BANDS"
  large=$("$BIN/bench_deq_inference_large" --size "$SIZE" --bands "$BANDS" --tile "$TILE" \
    --threads 2 --epochs "$LARGE_EPOCHS" --out "$WORK/inference_large.tif" \
    2>>"$WORK/stderr.log" | sed 's/^# /### /') || true
  rm -f "$WORK/inference_large.tif"
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
os=$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release 2>/dev/null || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit="$commit (with local changes)"
fi
{
  echo "# deq-unmix benchmark (issue 5)"
  echo
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Machine: $(nproc) cores, ${cpu:-unknown CPU}," \
    "${os:-unknown OS}; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)." \
    "Commit $commit. Wall time $(($(date +%s) - START)) s."
  echo
  echo "Command: \`bash bench/run_all.sh${ARGS:+ $ARGS}\`;" \
    "DEQ-Unmix epochs ${EPOCHS:-300 (core default)}, seeds $SEEDS" \
    "(phantom and unrolled: ${OTHER_SEEDS:-$SEEDS}), gradient modes $MODES," \
    "2 threads.$([[ $QUICK == 1 ]] && echo ' **Quick smoke run: the figures are not results.**')"
  echo
  echo "## Accuracy and cost per dataset and method"
  echo
  echo "Synthetic scenes: generateSyntheticScene 64 x 64 x 100, P = 4, max abundance 0.8, no" \
    "pure pixels, scene seed 42. mSAD against the reference endmembers, aRMSE global" \
    "(sqrt of the mean over pixels and endmembers) and mean of the per-endmember RMSEs," \
    "endmembers matched by minimum total SAD. Mean +- standard deviation over the seeds" \
    "(the seed of VCA and of the network); training seconds are the mean, peak memory the" \
    "largest peak-RSS growth of a training run (its own child process). OTB rows: one run," \
    "VCA seed 42, time end to end (two CLI processes)."
  echo
  echo "| dataset | method | seeds | mSAD rad | mSAD deg | aRMSE | aRMSE mean/endm. | train s | peak MiB |"
  echo "|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '
    function fmt(sum, sq, n, d, scale,    m, sd) {
      m = sum / n; sd = sq / n - m * m; sd = sd > 0 ? sqrt(sd) : 0
      if (n > 1) return sprintf("%." d "f +- %." d "f", m * scale, sd * scale)
      return sprintf("%." d "f", m * scale)
    }
    {
      key = $1 SUBSEP $2
      if (!(key in n)) { order[++count] = key; ds[key] = $1; me[key] = $2; peak[key] = "-" }
      n[key]++
      s1[key] += $4; q1[key] += $4 * $4
      s2[key] += $5; q2[key] += $5 * $5
      s3[key] += $6; q3[key] += $6 * $6
      if ($7 != "-") { st[key] += $7; nt[key]++ }
      if ($8 != "-" && (peak[key] == "-" || $8 + 0 > peak[key] + 0)) peak[key] = $8
    }
    END {
      for (i = 1; i <= count; i++) {
        k = order[i]
        printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", ds[k], me[k], n[k],
          fmt(s1[k], q1[k], n[k], 4, 1), fmt(s1[k], q1[k], n[k], 2, 57.29577951308232),
          fmt(s2[k], q2[k], n[k], 4, 1), fmt(s3[k], q3[k], n[k], 4, 1),
          nt[k] ? sprintf("%.1f", st[k] / nt[k]) : "-",
          peak[k] == "-" ? "-" : sprintf("%.0f", peak[k])
      }
    }' "$ROWS"
  if [[ -s "$NOTES" ]]; then
    echo
    cat "$NOTES"
  fi
  if [[ -n "$ablation" ]]; then
    echo
    echo "## Training memory and time versus forward iterations (bench_deq_ablation)"
    echo
    echo "$ablation"
  fi
  if [[ -n "$large" ]]; then
    echo
    echo "## Large-scene streamed inference (bench_deq_inference_large)"
    echo
    echo "$large"
  fi
  if [[ -s "$WORK/stderr.log" ]] && grep -qi "fail\|error" "$WORK/stderr.log"; then
    echo
    echo "Errors were reported during the run: see $WORK/stderr.log."
  fi
} >"$OUT"
cat "$OUT"
log "report written to $OUT"
