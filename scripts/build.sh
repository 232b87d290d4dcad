#!/usr/bin/env bash
# Configures (Ninja, Release) and builds deq-unmix.
#   BUILD_DIR   build folder (default: ./build in the repository)
#   JOBS        parallel jobs (default: the number of cores)
# Extra arguments go to the CMake configure step, e.g. -DDEQUNMIX_BUILD_TESTS=OFF.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

jobs="${JOBS:-$(nproc)}"
log "configuring ${DEQUNMIX_BUILD_DIR} (Ninja, Release)"
cmake -S "${DEQUNMIX_ROOT}" -B "${DEQUNMIX_BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
log "building with ${jobs} jobs"
cmake --build "${DEQUNMIX_BUILD_DIR}" -j "${jobs}"
