#!/usr/bin/env bash
# Builds only core/ and the core tests against the PyTorch of `python3` (a CUDA wheel on a
# GPU machine), without QGIS, runs the core suite with ctest and prints the results. The
# CUDA tests (tests/core/test_deq_device.cpp) skip on a machine without a GPU.
#
#   scripts/device-test.sh --stage   on the development machine: copies the GoogleTest
#                                    sources (/usr/src/googletest) and Samson as raw float32
#                                    (../shared/data/samson, needs GDAL's Python) into
#                                    build-device-stage/, to carry to a machine without them
#   scripts/device-test.sh           configure, build (core_tests only), ctest
#
# Environment:
#   BUILD_DIR   build folder (default build-device; ignored by git like every /build*/)
#   JOBS        parallel build jobs (default: the number of cores)
#   CTEST_JOBS  parallel test processes (default 8)
#   BENCH=1     then also run DeqDeviceBench.EpochTimeCudaVsCpu (Samson from
#               build-device-stage/samson when staged, else a synthetic scene; the
#               DEQUNMIX_DEVICE_BENCH_* variables of that test pass through) and
#               bench_inference_devices (CPU with BENCH_CPU_THREADS, default 16, and CUDA)
#   OUT         when set, the logs go there (configure.log, build.log, ctest.log, LastTest.log,
#               bench.log) instead of the build folder
#
# GoogleTest: an installed GTest package is used when CMake finds one; otherwise (a PyTorch
# image has none) it is built from sources ($GTEST_SOURCE_DIR, /usr/src/googletest or
# build-device-stage/googletest) with the wheel's _GLIBCXX_USE_CXX11_ABI, installed into
# the build folder and put on CMAKE_PREFIX_PATH. The project's CMake files are unchanged.
# Torch: CMAKE_PREFIX_PATH from torch.utils.cmake_prefix_path (TorchConfig sets the ABI
# flag).
set -euo pipefail
BUILD_DIR="${BUILD_DIR:-build-device}"
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
STAGE="${DEQUNMIX_ROOT}/build-device-stage"

if [[ "${1:-}" == "--stage" ]]; then
  mkdir -p "${STAGE}"
  if [[ -d /usr/src/googletest ]]; then
    rm -rf "${STAGE}/googletest"
    cp -r /usr/src/googletest "${STAGE}/googletest"
    log "staged GoogleTest sources in ${STAGE}/googletest"
  else
    log "no /usr/src/googletest here (apt-get install googletest): not staged"
  fi
  samson="${DEQUNMIX_ROOT}/../shared/data/samson"
  if [[ -f "${samson}/samson.tif" ]]; then
    mkdir -p "${STAGE}/samson"
    "${SYSTEM_PYTHON}" - "${samson}" "${STAGE}/samson" <<'PY'
import csv, sys
import numpy as np
from osgeo import gdal
src, dst = sys.argv[1], sys.argv[2]
cube = gdal.Open(src + "/samson.tif").ReadAsArray().astype("<f4")        # bands x H x W
ref = gdal.Open(src + "/samson_abundances_gt.tif").ReadAsArray().astype("<f4")
with open(src + "/samson_endmembers_gt.csv") as f:
    rows = list(csv.reader(f))
E = np.array([[float(v) for v in r[2:]] for r in rows[1:]], dtype="<f4")  # bands x P
assert E.shape[0] == cube.shape[0] and ref.shape[0] == E.shape[1]
cube.tofile(dst + "/samson.f32")
ref.tofile(dst + "/samson_abundances_gt.f32")
E.tofile(dst + "/samson_endmembers_gt.f32")
with open(dst + "/samson.txt", "w") as f:
    f.write("%d %d %d %d\n" % (cube.shape[0], cube.shape[1], cube.shape[2], E.shape[1]))
print("staged Samson", cube.shape, "P =", E.shape[1])
PY
  else
    log "no Samson scene at ${samson}: the benchmark will use a synthetic scene"
  fi
  du -sh "${STAGE}"
  log "carry build-device-stage with the run"
  exit 0
fi

jobs="${JOBS:-$(nproc)}"
BUILD="${DEQUNMIX_BUILD_DIR}"
mkdir -p "${BUILD}"
logs="${OUT:-${BUILD}}"  # build.log, ctest.log, LastTest.log, bench.log
mkdir -p "${logs}"

log "environment"
uname -m
nvidia-smi -L 2>/dev/null || echo "(no nvidia-smi)"
python3 - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available",
      torch.cuda.is_available(), "devices", torch.cuda.device_count(),
      "cxx11 abi", int(torch._C._GLIBCXX_USE_CXX11_ABI))
PY
torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
abi="$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')"
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
  [[ -x "${d}/nvcc" ]] && { PATH="${PATH}:${d}"; break; }
done
command -v nvcc >/dev/null && nvcc --version | tail -1 || echo "(no nvcc)"
generator="Unix Makefiles"
command -v ninja >/dev/null && generator=Ninja

# --- GoogleTest.
prefix="${torch_prefix}"
have_gtest=0
for f in /usr/lib/*/cmake/GTest/GTestConfig.cmake /usr/lib/cmake/GTest/GTestConfig.cmake \
  /usr/local/lib/cmake/GTest/GTestConfig.cmake /usr/local/lib64/cmake/GTest/GTestConfig.cmake; do
  [[ -f "${f}" ]] && have_gtest=1
done
if [[ "${have_gtest}" == 1 && "${abi}" == 1 ]]; then
  log "using the installed GTest"
else
  src=""
  for d in "${GTEST_SOURCE_DIR:-}" /usr/src/googletest "${STAGE}/googletest"; do
    [[ -n "${d}" && -f "${d}/CMakeLists.txt" ]] && { src="${d}"; break; }
  done
  [[ -n "${src}" ]] || die "no GTest package and no GoogleTest sources (run --stage and carry build-device-stage)"
  gtest_prefix="${BUILD}/_gtest"
  if [[ ! -f "${gtest_prefix}/.done-abi${abi}" ]]; then
    log "building GoogleTest from ${src} (_GLIBCXX_USE_CXX11_ABI=${abi})"
    cmake -S "${src}" -B "${BUILD}/_gtest-build" -G "${generator}" -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
      -DCMAKE_CXX_FLAGS="-D_GLIBCXX_USE_CXX11_ABI=${abi}" \
      -DCMAKE_INSTALL_PREFIX="${gtest_prefix}" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
    cmake --build "${BUILD}/_gtest-build" -j "${jobs}" --target install >/dev/null
    touch "${gtest_prefix}/.done-abi${abi}"
  fi
  prefix="${prefix};${gtest_prefix}"
fi

# --- Configure with the wheel's TorchConfig.
# The PyTorch wheel's libtorch.so exports its own copy of some libstdc++ functions (seen:
# std::filesystem::remove_all, torch 2.11.0+cu130). Executables linked after it bind to
# that copy (with a compiler that links libstdc++ statically, as this image's /opt/gcc
# does, at link time, since libtorch.so comes before the archive), and remove_all on a
# non-empty folder jumped to address 0 there (the EndmemberCsv fixtures use it). Naming
# libstdc++ right after the objects makes them bind to libstdc++ itself. The project's CMake
# files are unchanged; Debian's libtorch does not need this.
link_rule="<CMAKE_CXX_COMPILER> <FLAGS> <CMAKE_CXX_LINK_FLAGS> <LINK_FLAGS> <OBJECTS> -o <TARGET> -lstdc++ <LINK_LIBRARIES>"
configure() {
  cmake -S "${DEQUNMIX_ROOT}" -B "${BUILD}" -G "${generator}" -DCMAKE_BUILD_TYPE=Release \
    -DDEQUNMIX_BUILD_QGIS=OFF -DDEQUNMIX_BUILD_TESTS=ON -DCMAKE_PREFIX_PATH="${prefix}" \
    -DCMAKE_CXX_LINK_EXECUTABLE="${link_rule}" "$@"
}
log "configuring ${BUILD} (${generator})"
configure >"${logs}/configure.log" 2>&1 || {
  tail -40 "${logs}/configure.log"
  die "configure failed (configure.log)"
}
grep -E "Torch|GTest|CUDA" "${BUILD}/CMakeCache.txt" | grep -E "_DIR:|CUDA_VERSION|CUDAToolkit_VERSION" | head -8 || true

# --- Build and test.
log "building core_tests with ${jobs} jobs"
build_status=0
cmake --build "${BUILD}" -j "${jobs}" --target core_tests bench_inference_devices \
  >"${logs}/build.log" 2>&1 || build_status=$?
grep -E "warning:" "${logs}/build.log" | sort | uniq | head -20 || true
if [[ "${build_status}" != 0 ]]; then
  grep -E -A5 "error|FAILED" "${logs}/build.log" | head -80
  die "build failed (build.log)"
fi

log "ctest (core suite, ${CTEST_JOBS:-8} processes)"
status=0
(cd "${BUILD}" && ctest -j "${CTEST_JOBS:-8}" --timeout 600 --output-on-failure) 2>&1 |
  tee "${logs}/ctest.log" || status=$?
if [[ "${logs}" != "${BUILD}" ]]; then cp "${BUILD}/Testing/Temporary/LastTest.log" "${logs}/" || true; fi
log "skipped: $(grep -cE '^[[:space:]]+[0-9]+ - .*\(Skipped\)$' "${logs}/ctest.log" || true) (CUDA tests skip without a GPU, the benchmark without BENCH=1)"
log "figures printed by the CUDA tests"
grep -E "cuda vs cpu|^[a-z+-]+ +loss|fixed point:|implicit gradient:|TF32" \
  "${BUILD}/Testing/Temporary/LastTest.log" || true

if [[ "${BENCH:-0}" == 1 ]]; then
  log "benchmark: DeqDeviceBench.EpochTimeCudaVsCpu"
  [[ -f "${STAGE}/samson/samson.txt" ]] && export DEQUNMIX_DEVICE_BENCH_DATA="${STAGE}/samson"
  DEQUNMIX_DEVICE_BENCH=1 "${BUILD}/tests/core/core_tests" \
    --gtest_filter='DeqDeviceBench.*' 2>&1 | tee "${logs}/bench.log" || status=$?
  log "benchmark: inference pixels per second, CPU and CUDA"
  "${BUILD}/bench/bench_inference_devices" --threads "${BENCH_CPU_THREADS:-16}" \
    --devices cpu,cuda 2>&1 | tee -a "${logs}/bench.log" || status=$?
fi
exit "${status}"
