#!/usr/bin/env bash
# One generated scene through qgis_process as a user runs it: `dequnmix:synthesize` with the
# given parameters, then `train` with its defaults (only ENDMEMBERS set, to the scene's
# count) and `vca` + `fcls`, each scored by `evaluate` against the scene's reference. Prints
# one line: mSAD and aRMSE of DEQ-Unmix and of VCA+FCLS, and train's TRAINING_SECONDS.
# Where bench_suite checks the core on its fixed scenes, this checks the installed plugin
# on any scene `synthesize` makes (its parameters: qgis_process help dequnmix:synthesize).
#
#   bash bench/through_qgis_process.sh NAME [SYNTHESIZE_PARAMETER=VALUE ...]
#       e.g. NAME ENDMEMBERS=6 SNR_DB=20 SHADE=0.05 ILLUMINATION=0.3 LIBRARY=usgs.csv
#
# Files go to bench/out/through_qgis_process/NAME (git ignores bench/out). Needs the plugin
# installed (scripts/install-plugin.sh) in QGIS's own settings root, or PROFILES_PATH's.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
[[ $# -ge 1 && "$1" != -* ]] || die "usage: $0 NAME [SYNTHESIZE_PARAMETER=VALUE ...]"
name="$1"
shift
profiles_path="${PROFILES_PATH:-$(default_profiles_path)}"
dir="${DEQUNMIX_ROOT}/bench/out/through_qgis_process/${name}"
rm -rf "${dir}"
mkdir -p "${dir}"
run() { run_qgis_process "${profiles_path}" default run "$@" 2> /dev/null; }
# "MSAD_RAD ARMSE" of abundances $1 with endmembers $2 against the reference.
score() {
  run dequnmix:evaluate -- ABUNDANCES="$1" REFERENCE_ABUNDANCES="${dir}/reference.tif" \
    ENDMEMBERS="$2" REFERENCE_ENDMEMBERS="${dir}/reference.csv" |
    awk '$1 == "MSAD_RAD:" { m = $2 } $1 == "ARMSE:" { a = $2 } END { printf "%.4f %.4f\n", m, a }'
}

run dequnmix:synthesize -- "$@" OUTPUT="${dir}/scene.tif" \
  OUTPUT_ABUNDANCES="${dir}/reference.tif" OUTPUT_ENDMEMBERS="${dir}/reference.csv" > /dev/null ||
  die "dequnmix:synthesize failed (is the plugin installed? are the parameters right?)"
# The reference CSV's columns: band, wavelength_nm, then one per endmember.
p="$(head -1 "${dir}/reference.csv" | tr ',' '\n' | grep -cv '^band$\|^wavelength')"
run dequnmix:train -- INPUT="${dir}/scene.tif" ENDMEMBERS="${p}" \
  OUTPUT_MODEL="${dir}/model.dequnmix" OUTPUT="${dir}/deq.tif" \
  OUTPUT_ENDMEMBERS="${dir}/deq.csv" > "${dir}/train.log" || die "dequnmix:train failed"
run dequnmix:vca -- INPUT="${dir}/scene.tif" ENDMEMBERS="${p}" \
  OUTPUT_ENDMEMBERS="${dir}/vca.csv" > /dev/null || die "dequnmix:vca failed"
run dequnmix:fcls -- INPUT="${dir}/scene.tif" ENDMEMBERS="${dir}/vca.csv" \
  OUTPUT="${dir}/fcls.tif" > /dev/null || die "dequnmix:fcls failed"
read -r deq_msad deq_armse < <(score "${dir}/deq.tif" "${dir}/deq.csv")
read -r fcls_msad fcls_armse < <(score "${dir}/fcls.tif" "${dir}/vca.csv")
seconds="$(awk '$1 == "TRAINING_SECONDS:" { printf "%.1f", $2 }' "${dir}/train.log")"
echo "| ${name} | ${p} | ${deq_msad} / ${deq_armse} | ${fcls_msad} / ${fcls_armse} | ${seconds} |"
