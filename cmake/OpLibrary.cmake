# tfforge_add_op_library(<name> SOURCES <file>...): a TensorFlow op library, <name>.so (no "lib"
# prefix), to load with tfforge.ops.load_library. It compiles and links with tfforge::tensorflow and
# carries a record of what it was built with (TensorFlow version, C++11 ABI, CUDA runtime version,
# source directory), which the loader checks against the running TensorFlow before loading it.
# Link tfforge::cuda and add .cu sources to the target for CUDA kernels.
include_guard(GLOBAL)

set(TFFORGE_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}" CACHE INTERNAL "tfforge's CMake package files")

function(tfforge_add_op_library name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "tfforge_add_op_library(${name}): no SOURCES given")
  endif()
  if(NOT TARGET tfforge::tensorflow)
    message(FATAL_ERROR "tfforge_add_op_library(${name}): TensorFlow is not importable by ${Python_EXECUTABLE}")
  endif()
  set(TFFORGE_LIBRARY_NAME "${name}")
  set(TFFORGE_PACKAGE_VERSION "${tfforge_VERSION}")
  set(TFFORGE_SOURCE_DIR "${CMAKE_SOURCE_DIR}")
  configure_file("${TFFORGE_CMAKE_DIR}/build_info.cc.in" "${CMAKE_CURRENT_BINARY_DIR}/${name}_build_info.cc" @ONLY)
  add_library(${name} SHARED ${ARG_SOURCES} "${CMAKE_CURRENT_BINARY_DIR}/${name}_build_info.cc")
  set_target_properties(${name} PROPERTIES PREFIX "" POSITION_INDEPENDENT_CODE ON
    CUDA_ARCHITECTURES "${TFFORGE_CUDA_ARCHITECTURES}" CUDA_SEPARABLE_COMPILATION OFF)
  target_link_libraries(${name} PRIVATE tfforge::tensorflow)
endfunction()
