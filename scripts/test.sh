#!/usr/bin/env bash
# Installs the packages, builds, and runs the whole test suite. Exit status = ctest's.
#   BUILD_DIR   build folder (default: ./build)
#   CTEST_JOBS  parallel tests (default 2)
#   SKIP_DEPS=1 skip scripts/install-deps.sh
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
  bash "${DEQUNMIX_ROOT}/scripts/install-deps.sh"
fi
bash "${DEQUNMIX_ROOT}/scripts/build.sh"
log "running the tests"
exec ctest --test-dir "${DEQUNMIX_BUILD_DIR}" -j "${CTEST_JOBS:-2}" --output-on-failure
