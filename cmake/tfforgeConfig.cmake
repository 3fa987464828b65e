# tfforge's CMake package: find it with find_package(tfforge CONFIG REQUIRED HINTS <`tfforge --cmake-dir`>).
#   tfforge::tensorflow             TensorFlow's headers, definitions (C++11 ABI) and libtensorflow_framework,
#                                   plus tfforge's kernel helpers (#include "tfforge/tf/op_util.h", ...)
#   tfforge::cuda                   the CUDA toolkit and the third_party/gpus header shim (when nvcc is found)
#   tfforge_add_op_library(NAME SOURCES ...)   an op library that tfforge.ops.load_library checks and loads
# tfforge's own _ops.so is built through these same files (see its CMakeLists.txt).
include_guard(GLOBAL)

if(NOT DEFINED TFFORGE_HEADERS_DIR AND EXISTS "${CMAKE_CURRENT_LIST_DIR}/../include/tfforge")
  get_filename_component(TFFORGE_HEADERS_DIR "${CMAKE_CURRENT_LIST_DIR}/../include" ABSOLUTE)
endif()
include("${CMAKE_CURRENT_LIST_DIR}/TensorFlow.cmake")
if(NOT TFFORGE_TF_FOUND)
  set(tfforge_FOUND FALSE)
  set(tfforge_NOT_FOUND_MESSAGE
    "tfforge builds op libraries against the TensorFlow importable by ${Python_EXECUTABLE}, which failed: ${TFFORGE_TF_ERROR}")
  return()
endif()
include("${CMAKE_CURRENT_LIST_DIR}/Cuda.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/OpLibrary.cmake")
message(STATUS "tfforge ${tfforge_VERSION}: op libraries for TensorFlow ${TF_VERSION}")
