# Shared helpers for the deq-unmix scripts (sourced, not run).
# shellcheck shell=bash

DEQUNMIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build folder: $BUILD_DIR if set (relative paths are taken from the repository root).
DEQUNMIX_BUILD_DIR="${BUILD_DIR:-build}"
case "${DEQUNMIX_BUILD_DIR}" in
  /*) ;;
  *) DEQUNMIX_BUILD_DIR="${DEQUNMIX_ROOT}/${DEQUNMIX_BUILD_DIR}" ;;
esac
QGIS_PROCESS=/usr/bin/qgis_process.bin
# Debian's system Python has osgeo and qgis; a pyenv python3 on PATH may not.
# shellcheck disable=SC2034 # used by the scripts that source this file
SYSTEM_PYTHON=/usr/bin/python3

log() {
  if [[ -t 2 ]]; then
    printf '\033[1m==> %s\033[0m\n' "$*" >&2
  else
    printf '==> %s\n' "$*" >&2
  fi
}
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# The QGIS settings root that holds profiles/ (what QGIS desktop calls --profiles-path).
default_profiles_path() { printf '%s\n' "${XDG_DATA_HOME:-${HOME}/.local/share}/QGIS/QGIS3"; }

# run_qgis_process PROFILES_PATH PROFILE ARGS...
# Runs qgis_process.bin headless against exactly that profile. qgis_process 3.22 has no
# profile option: it uses the default profile of the settings root given by
# QGIS_CUSTOM_CONFIG_PATH (or ~/.local/share/QGIS/QGIS3). So we hand it a temporary root
# whose profiles/default is a symbolic link to the wanted profile folder; settings it
# writes (e.g. "plugins enable") land in the real profile, and the user's profiles.ini is
# never touched.
run_qgis_process() {
  local profiles_path="$1" profile="$2" status=0 root
  shift 2
  root="$(mktemp -d "${TMPDIR:-/tmp}/dequnmix-qgis-root.XXXXXX")"
  mkdir -p "${root}/profiles" "${profiles_path}/profiles/${profile}"
  ln -s "$(cd "${profiles_path}/profiles/${profile}" && pwd)" "${root}/profiles/default"
  QT_QPA_PLATFORM=offscreen QGIS_CUSTOM_CONFIG_PATH="${root}" "${QGIS_PROCESS}" "$@" || status=$?
  rm -rf "${root}"
  return "${status}"
}
