#!/usr/bin/env bash
# The main job, end to end: installs the packages, builds, installs the plugin into a QGIS
# profile, then runs the pipeline on the built-in synthetic scene through qgis_process and
# prints where the outputs went and the metrics against the scene's reference.
#
# Usage: bash scripts/demo.sh [--profile NAME] [--profiles-path DIR] [OUTPUT_DIR]
#   OUTPUT_DIR            where the rasters, CSVs and JSON go (default: <build>/demo)
#   --profile, --profiles-path   as for scripts/install-plugin.sh
# Environment: BUILD_DIR, SKIP_DEPS=1 (skip apt), SKIP_BUILD=1 (use the build as it is),
# and the scene: DEMO_WIDTH, DEMO_HEIGHT,
# DEMO_BANDS, DEMO_ENDMEMBERS, DEMO_SNR_DB, DEMO_MAX_ABUNDANCE, DEMO_PURE_PIXELS, DEMO_SEED,
# DEMO_EPOCHS (DEQ-Unmix training epochs, default 30), DEMO_REFINEMENT (none, mean_shift,
# min_volume or auto; default auto) and DEMO_SPATIAL_WEIGHT (default
# 0.02), both the core's defaults.
#
# Pipeline: synthesize -> vca -> fcls -> evaluate (VCA + FCLS), then train DEQ-Unmix from
# the same VCA endmembers -> evaluate. Each method is one stage function that ends with an
# evaluate run registered in METHODS; the summary prints them side by side.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_args=()
profile=default
profiles_path="$(default_profiles_path)"
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; install_args+=(--profile "$2"); shift 2 ;;
    --profiles-path | --prefix)
      profiles_path="${2:?$1 needs a folder}"
      install_args+=(--profiles-path "$2")
      shift 2
      ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "${out}" ]] || die "only one OUTPUT_DIR"; out="$1"; shift ;;
  esac
done
out="${out:-${DEQUNMIX_BUILD_DIR}/demo}"

# --- install, build, install the plugin --------------------------------------------------
if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
  bash "${DEQUNMIX_ROOT}/scripts/install-deps.sh"
fi
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  bash "${DEQUNMIX_ROOT}/scripts/build.sh"
fi
bash "${DEQUNMIX_ROOT}/scripts/install-plugin.sh" --build-dir "${DEQUNMIX_BUILD_DIR}" \
  "${install_args[@]}"
mkdir -p "${out}"
out="$(cd "${out}" && pwd)"
mkdir -p "${profiles_path}"
profiles_path="$(cd "${profiles_path}" && pwd)"

# --- helpers ---------------------------------------------------------------------------
METHODS=() # "label|evaluate json" for the summary table

# run_alg ID NAME ARGS... : runs dequnmix:ID with --json, saves the answer as NAME.json.
run_alg() {
  local id="$1" name="$2"
  shift 2
  local json="${out}/${name}.json"
  log "qgis_process.bin --json run dequnmix:${id} $*"
  if ! run_qgis_process "${profiles_path}" "${profile}" --json run "dequnmix:${id}" "$@" \
    > "${json}" 2> "${out}/${name}.log"; then
    tail -n 20 "${out}/${name}.log" >&2
    die "dequnmix:${id} failed (log: ${out}/${name}.log)"
  fi
}

# evaluate NAME LABEL ABUNDANCES ENDMEMBERS : scores a method against the reference.
evaluate() {
  local name="$1" label="$2"
  run_alg evaluate "${name}" \
    --ABUNDANCES="$3" --REFERENCE_ABUNDANCES="${out}/reference_abundances.tif" \
    --ENDMEMBERS="$4" --REFERENCE_ENDMEMBERS="${out}/reference_endmembers.csv" \
    --OUTPUT_TABLE="${out}/${name}.csv" --OUTPUT_REPORT="${out}/${name}.html"
  METHODS+=("${label}|${out}/${name}.json")
}

# --- stages ------------------------------------------------------------------------------
stage_synthesize() {
  run_alg synthesize synthesize \
    --WIDTH="${DEMO_WIDTH:-64}" --HEIGHT="${DEMO_HEIGHT:-64}" --BANDS="${DEMO_BANDS:-100}" \
    --ENDMEMBERS="${DEMO_ENDMEMBERS:-4}" --SNR_DB="${DEMO_SNR_DB:-30}" \
    --MAX_ABUNDANCE="${DEMO_MAX_ABUNDANCE:-0.8}" --PURE_PIXELS="${DEMO_PURE_PIXELS:-false}" \
    --SEED="${DEMO_SEED:-42}" \
    --OUTPUT="${out}/scene.tif" --OUTPUT_ABUNDANCES="${out}/reference_abundances.tif" \
    --OUTPUT_ENDMEMBERS="${out}/reference_endmembers.csv"
}

stage_classical() {
  run_alg vca vca \
    --INPUT="${out}/scene.tif" --ENDMEMBERS="${DEMO_ENDMEMBERS:-4}" --SEED="${DEMO_SEED:-42}" \
    --OUTPUT_ENDMEMBERS="${out}/vca_endmembers.csv" \
    --OUTPUT_LOCATIONS="${out}/vca_locations.gpkg"
  run_alg fcls fcls \
    --INPUT="${out}/scene.tif" --ENDMEMBERS="${out}/vca_endmembers.csv" \
    --OUTPUT="${out}/fcls_abundances.tif" --OUTPUT_RESIDUAL="${out}/fcls_residual.tif"
  evaluate evaluate_fcls "VCA + FCLS" "${out}/fcls_abundances.tif" "${out}/vca_endmembers.csv"
}

# DEQ-Unmix: trained on the scene from the same VCA endmembers, then scored. The core's
# defaults except EPOCHS (so that it finishes in a few minutes on 2 cores): the VCA
# vertices as they are, the automatic loss weight (MSE-led on this linear mixture) and the
# spatial prox (SPATIAL_WEIGHT).
stage_deq() {
  local started=${SECONDS}
  run_alg train train \
    --INPUT="${out}/scene.tif" --INITIAL_ENDMEMBERS="${out}/vca_endmembers.csv" \
    --EPOCHS="${DEMO_EPOCHS:-30}" --SEED="${DEMO_SEED:-42}" --THREADS=0 \
    --REFINEMENT="${DEMO_REFINEMENT:-auto}" --SPATIAL_WEIGHT="${DEMO_SPATIAL_WEIGHT:-0.02}" \
    --OUTPUT_MODEL="${out}/deq_model.dequnmix" --OUTPUT="${out}/deq_abundances.tif" \
    --OUTPUT_ENDMEMBERS="${out}/deq_endmembers.csv" --OUTPUT_RESIDUAL="${out}/deq_residual.tif" \
    --OUTPUT_REPORT="${out}/deq_report.html"
  log "DEQ-Unmix trained in $((SECONDS - started)) s (report: ${out}/deq_report.html)"
  evaluate evaluate_deq "DEQ-Unmix" "${out}/deq_abundances.tif" "${out}/deq_endmembers.csv"
}

summary() {
  "${SYSTEM_PYTHON}" - "${out}" "${METHODS[@]}" << 'PY'
import json, os, sys

def load(path):
    text = open(path).read()
    start = text.find("{")  # skip anything a plugin printed before the JSON
    return json.JSONDecoder().raw_decode(text[start:])[0]

out = sys.argv[1]
rows = []
for entry in sys.argv[2:]:
    label, path = entry.split("|", 1)
    r = load(path).get("results", {})
    rows.append((label, r.get("MSAD_RAD"), r.get("MSAD_DEG"), r.get("ARMSE"),
                 r.get("ARMSE_MEAN_PER_ENDMEMBER")))

def f(v, digits=4):
    return "-" if v is None else f"{float(v):.{digits}f}"

print("\nOutputs in " + out + ":")
for name in sorted(os.listdir(out)):
    if not name.endswith((".json", ".log")):
        print("  " + name)
print("  (*.json: each qgis_process answer; *.log: its messages)")
print("\nMetrics against the reference (endmembers matched by minimum total SAD):\n")
header = ("method", "mSAD rad", "mSAD deg", "aRMSE", "aRMSE mean/endmember")
width = max(len(header[0]), *(len(r[0]) for r in rows))
print(f"  {header[0]:<{width}}  {header[1]:>9}  {header[2]:>9}  {header[3]:>8}  {header[4]:>20}")
for label, rad, deg, armse, armse_mean in rows:
    print(f"  {label:<{width}}  {f(rad):>9}  {f(deg, 2):>9}  {f(armse):>8}  {f(armse_mean):>20}")
PY
}

log "main job on the synthetic scene; outputs in ${out}"
demo_started=${SECONDS}
stage_synthesize
stage_classical
stage_deq
summary
echo
echo "DEQ-Unmix training report: ${out}/deq_report.html"
echo "Main job time: $((SECONDS - demo_started)) s"
