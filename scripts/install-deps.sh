#!/usr/bin/env bash
# Installs the Debian 12 packages deq-unmix needs (build, tests, qgis_process, benchmark).
# Idempotent: when every package is already installed, apt is not touched at all.
set -euo pipefail

PACKAGES=(
  # ../shared/PLATFORM.md
  qgis qgis-providers libqgis-dev python3-qgis libtorch-dev libgloo-dev libgtest-dev xvfb xauth otb-bin
  gdal-bin python3-gdal python3-numpy libopenblas0-pthread
  # the reports' rendering test
  chromium
  # build tools
  cmake ninja-build g++ ccache git
)

missing=()
for package in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${package}" 2>/dev/null || true)"
  if [[ "${status}" != "installed" ]]; then
    missing+=("${package}")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo > /dev/null || {
    echo "install-deps: not root and no sudo; install as root: ${missing[*]}" >&2
    exit 1
  }
  SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  "${PACKAGES[@]}" < /dev/null
