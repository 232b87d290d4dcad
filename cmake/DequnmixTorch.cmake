# Finds LibTorch as DEQUNMIX_LIBTORCH says and refuses, before anything compiles, the
# combinations that would build but fail at load or run time.
if(DEQUNMIX_LIBTORCH STREQUAL "python")
  execute_process(
    COMMAND python3 -c "import torch; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE dequnmix_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE dequnmix_torch_rc ERROR_QUIET)
  if(NOT dequnmix_torch_rc EQUAL 0)
    message(FATAL_ERROR "DEQUNMIX_LIBTORCH=python: python3 cannot import torch. Install "
      "PyTorch for python3, or give the folder of an unpacked LibTorch archive instead.")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${dequnmix_torch_prefix}")
elseif(DEQUNMIX_LIBTORCH)
  if(NOT EXISTS "${DEQUNMIX_LIBTORCH}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "DEQUNMIX_LIBTORCH=${DEQUNMIX_LIBTORCH} holds no "
      "share/cmake/Torch/TorchConfig.cmake: give the unpacked 'libtorch' folder itself.")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${DEQUNMIX_LIBTORCH}")
endif()
find_package(Torch REQUIRED)

# QGIS, Qt and GDAL are built with the C++11 ABI; one library cannot mix it with a
# LibTorch of the old ABI (pip wheels before torch 2.7, the "Pre-cxx11 ABI" archives): the
# link succeeds and std::string arguments crash at run time.
if(DEQUNMIX_BUILD_QGIS AND TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "The LibTorch at ${Torch_DIR} uses the pre-C++11 ABI, but QGIS needs "
    "the C++11 ABI. Use a 'cxx11 ABI' LibTorch archive (or torch >= 2.7 from pip), or build "
    "only the core with -DDEQUNMIX_BUILD_QGIS=OFF.")
endif()

# CUDA kernels register themselves when libtorch_cuda loads; a linker that drops libraries
# whose symbols are not referenced (--as-needed, the default on some distributions) would
# leave a GPU build that sees no CUDA.
set(DEQUNMIX_TORCH_HAS_CUDA OFF)
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(DEQUNMIX_TORCH_HAS_CUDA ON)
  add_link_options(LINKER:--no-as-needed)
endif()
message(STATUS "deq-unmix: LibTorch ${Torch_VERSION} at ${Torch_DIR} (CUDA: ${DEQUNMIX_TORCH_HAS_CUDA})")
