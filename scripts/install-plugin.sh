#!/usr/bin/env bash
# Installs the built plugin folder (<build>/plugin/dequnmix: metadata.txt, __init__.py,
# icons/, the shared library) into a QGIS profile, enables it for qgis_process and checks
# that qgis_process lists the dequnmix provider.
#
# Usage: bash scripts/install-plugin.sh [--profile NAME] [--profiles-path DIR] [--build-dir DIR]
#   --profile NAME        profile to install into (default: default)
#   --profiles-path DIR   QGIS settings root holding profiles/ (default:
#                         ~/.local/share/QGIS/QGIS3); the same as QGIS desktop's
#                         --profiles-path and qgis_process's QGIS_CUSTOM_CONFIG_PATH.
#                         --prefix is accepted as a synonym.
#   --build-dir DIR       build folder (default: $BUILD_DIR or ./build)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

profile=default
profiles_path="$(default_profiles_path)"
build_dir="${DEQUNMIX_BUILD_DIR}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --profiles-path | --prefix) profiles_path="${2:?$1 needs a folder}"; shift 2 ;;
    --profiles-path=* | --prefix=*) profiles_path="${1#*=}"; shift ;;
    --build-dir) build_dir="${2:?--build-dir needs a folder}"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ "${profile}" =~ ^[A-Za-z0-9._-]+$ ]] || die "profile name '${profile}' is not a plain name"

staged="${build_dir}/plugin/dequnmix"
[[ -f "${staged}/metadata.txt" && -f "${staged}/__init__.py" ]] ||
  die "no built plugin in ${staged} (run: bash scripts/build.sh)"
compgen -G "${staged}/*.so" > /dev/null || die "no shared library (*.so) in ${staged}"

mkdir -p "${profiles_path}"
profiles_path="$(cd "${profiles_path}" && pwd)"
plugins_dir="${profiles_path}/profiles/${profile}/python/plugins"
target="${plugins_dir}/dequnmix"
log "installing the plugin into ${target}"
mkdir -p "${plugins_dir}"
# Copy into a fresh folder beside the target, then swap, so a failed copy never leaves a
# half-installed plugin. -L: copy files, not links into the build folder.
rm -rf "${target}.new"
cp -RL "${staged}" "${target}.new"
rm -rf "${target}"
mv "${target}.new" "${target}"

log "enabling it for qgis_process (profile '${profile}' in ${profiles_path})"
# qgis_process exits 1 when the plugin is already enabled; that is success here.
if ! enabling="$(run_qgis_process "${profiles_path}" "${profile}" plugins enable dequnmix 2>&1)"; then
  grep -q 'already enabled' <<< "${enabling}" ||
    die "qgis_process could not enable dequnmix:"$'\n'"${enabling}"
fi
grep -E '^(Enabl|Plugin is already)' <<< "${enabling}" | sed 's/^/    /' || true

log "checking that qgis_process lists the dequnmix provider"
listing="$(run_qgis_process "${profiles_path}" "${profile}" list 2>&1)" ||
  die "qgis_process list failed:"$'\n'"${listing}"
if ! grep -q 'dequnmix:' <<< "${listing}"; then
  printf '%s\n' "${listing}" | tail -n 30 >&2
  die "qgis_process does not list any dequnmix: algorithm after installing into ${target}"
fi
grep 'dequnmix:' <<< "${listing}" | sed 's/^[[:space:]]*/    /'
log "installed: ${target}"
if [[ "${profiles_path}" != "$(default_profiles_path)" || "${profile}" != default ]]; then
  echo "qgis_process uses the default profile of a settings root; to use this one run e.g."
  echo "  QGIS_CUSTOM_CONFIG_PATH=${profiles_path} QT_QPA_PLATFORM=offscreen ${QGIS_PROCESS} list"
  [[ "${profile}" == default ]] || echo "  (with '${profile}' set as that root's default profile)"
  echo "QGIS desktop: qgis --profiles-path ${profiles_path} --profile ${profile}"
fi
