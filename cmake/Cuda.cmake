# tfforge::cuda: the CUDA toolkit for an op library's kernels, plus what TensorFlow's headers need to
# compile with GOOGLE_CUDA. They include "third_party/gpus/cuda/include/<header>.h", a path the pip
# wheel does not ship, so a shim directory maps it onto the toolkit's include directory.
#
# Shared by tfforge's own build and its installed CMake package. TFFORGE_CUDA (AUTO|ON|OFF, default
# AUTO) decides: AUTO enables CUDA when nvcc is found. Sets TFFORGE_WITH_CUDA (ON/OFF); the target
# tfforge::cuda exists only when it is ON. Kernels are compiled for TFFORGE_CUDA_ARCHITECTURES.
include_guard(GLOBAL)

set(TFFORGE_CUDA "AUTO" CACHE STRING "Compile the CUDA kernels: AUTO (when nvcc is found), ON, OFF")
set_property(CACHE TFFORGE_CUDA PROPERTY STRINGS AUTO ON OFF)
set(TFFORGE_CUDA_ARCHITECTURES "80;90" CACHE STRING "GPU architectures the CUDA kernels are compiled for")
set(TFFORGE_WITH_CUDA OFF)

if(NOT TFFORGE_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(TFFORGE_WITH_CUDA ON)
    set(_tfforge_shim "${CMAKE_BINARY_DIR}/tfforge_cuda_shim")
    file(MAKE_DIRECTORY "${_tfforge_shim}/third_party/gpus/cuda")
    list(GET CUDAToolkit_INCLUDE_DIRS 0 _cuda_include)
    if(NOT EXISTS "${_tfforge_shim}/third_party/gpus/cuda/include")
      file(CREATE_LINK "${_cuda_include}" "${_tfforge_shim}/third_party/gpus/cuda/include" SYMBOLIC)
    endif()
    add_library(tfforge::cuda INTERFACE IMPORTED GLOBAL)
    target_include_directories(tfforge::cuda INTERFACE "${_tfforge_shim}" ${CUDAToolkit_INCLUDE_DIRS})
    target_compile_definitions(tfforge::cuda INTERFACE GOOGLE_CUDA=1 EIGEN_USE_GPU)
    target_compile_options(tfforge::cuda INTERFACE "$<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>")
    target_link_libraries(tfforge::cuda INTERFACE CUDA::cudart_static)
    message(STATUS "tfforge: CUDA kernels ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${TFFORGE_CUDA_ARCHITECTURES})")
  elseif(TFFORGE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TFFORGE_CUDA=ON but no CUDA compiler (nvcc) was found; install the CUDA toolkit or use TFFORGE_CUDA=AUTO")
  else()
    message(STATUS "tfforge: CUDA kernels OFF (no nvcc found)")
  endif()
endif()
