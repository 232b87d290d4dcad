#!/usr/bin/env bash
# Packs the built plugin folder (build/plugin/dequnmix: metadata.txt, __init__.py, the
# provider library, icons, models) into a zip that QGIS's Plugin Manager installs with
# "Install from ZIP" on the platform it was built for. metadata.txt in the zip gains a
# `platform` line (distribution, architecture, QGIS version), also in the file name.
#
#   bash scripts/package-plugin.sh [OUTPUT_DIR]   (default: build/dist)
#
# Build first (scripts/build.sh). The library links the system's LibTorch, GDAL and QGIS:
# the target machine needs the same Debian packages (scripts/install-deps.sh).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

staged="${DEQUNMIX_BUILD_DIR}/plugin/dequnmix"
[[ -f "${staged}/metadata.txt" && -f "${staged}/libdequnmix_qgis.so" ]] ||
  die "no built plugin in ${staged}: run scripts/build.sh first"
out="${1:-${DEQUNMIX_BUILD_DIR}/dist}"
mkdir -p "${out}"
out="$(cd "${out}" && pwd)"

version="$(sed -n 's/^version=//p' "${staged}/metadata.txt")"
# shellcheck disable=SC1091
distribution="$(. /etc/os-release && printf '%s%s' "${ID}" "${VERSION_ID:-}")"
qgis_version="$(QT_QPA_PLATFORM=offscreen "${QGIS_PROCESS}" --version 2>/dev/null |
  sed -n 's/^QGIS \([0-9.]*\).*/\1/p' | head -1)"
platform="${distribution}-$(uname -m)-qgis${qgis_version:-unknown}"
zip="${out}/dequnmix-${version}-${platform}.zip"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cp -RL "${staged}" "${work}/dequnmix"
find "${work}/dequnmix" -name '__pycache__' -prune -exec rm -rf {} +
printf 'platform=%s\n' "${platform}" >> "${work}/dequnmix/metadata.txt"
rm -f "${zip}"
# The zip holds the folder itself, as the Plugin Manager expects (dequnmix/metadata.txt).
(cd "${work}" && "${SYSTEM_PYTHON}" - "${zip}" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for root, _, files in os.walk("dequnmix"):
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, path)
PY
)
log "packed ${zip} ($(du -h "${zip}" | cut -f1))"
printf '%s\n' "${zip}"
