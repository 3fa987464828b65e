# tfforge::tensorflow: what a TensorFlow op library compiles and links with, read from the TensorFlow
# importable by Python_EXECUTABLE (tf.sysconfig), which the library is then tied to: TensorFlow's
# include directory, its compile definitions (the C++11 ABI flag among them), libtensorflow_framework
# with an rpath to it (no LD_LIBRARY_PATH needed), and tfforge's kernel helper headers.
#
# Shared by tfforge's own build and its installed CMake package (tfforgeConfig.cmake). Sets
# TFFORGE_TF_FOUND (ON/OFF), TF_VERSION, TFFORGE_TF_LIBRARY_DIR and, when not found, TFFORGE_TF_ERROR.
include_guard(GLOBAL)

if(NOT Python_EXECUTABLE)
  find_package(Python REQUIRED COMPONENTS Interpreter)
endif()

set(TFFORGE_TF_FOUND OFF)
set(TF_VERSION "")
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import tensorflow as tf; s=tf.sysconfig; print(tf.__version__); print('|'.join(s.get_compile_flags())); print('|'.join(s.get_link_flags()))"
  OUTPUT_VARIABLE _tf_out ERROR_VARIABLE TFFORGE_TF_ERROR RESULT_VARIABLE _tf_rc OUTPUT_STRIP_TRAILING_WHITESPACE)

if(_tf_rc EQUAL 0)
  string(REGEX MATCHALL "[^\n]+" _tf_lines "${_tf_out}")
  list(GET _tf_lines -3 TF_VERSION)
  list(GET _tf_lines -2 _tf_cflags)
  list(GET _tf_lines -1 _tf_lflags)
  string(REPLACE "|" ";" _tf_cflags "${_tf_cflags}")
  string(REPLACE "|" ";" _tf_lflags "${_tf_lflags}")

  add_library(tfforge::tensorflow INTERFACE IMPORTED GLOBAL)
  target_compile_features(tfforge::tensorflow INTERFACE cxx_std_17)
  foreach(_flag IN LISTS _tf_cflags)
    if(_flag MATCHES "^-I(.+)")
      target_include_directories(tfforge::tensorflow INTERFACE "${CMAKE_MATCH_1}")
    elseif(_flag MATCHES "^-D(.+)")
      target_compile_definitions(tfforge::tensorflow INTERFACE "${CMAKE_MATCH_1}")
    elseif(NOT _flag MATCHES "^-?-std=")  # the standard comes from cxx_std_17, for nvcc as well
      target_compile_options(tfforge::tensorflow INTERFACE "$<$<COMPILE_LANGUAGE:CXX>:${_flag}>")
    endif()
  endforeach()
  # TensorFlow's headers warn about their own deprecated and attribute-laden declarations.
  target_compile_options(tfforge::tensorflow INTERFACE
    "$<$<COMPILE_LANGUAGE:CXX>:-Wno-deprecated-declarations;-Wno-ignored-attributes>")
  foreach(_flag IN LISTS _tf_lflags)
    if(_flag MATCHES "^-L(.+)")
      set(TFFORGE_TF_LIBRARY_DIR "${CMAKE_MATCH_1}")
      target_link_directories(tfforge::tensorflow INTERFACE "${CMAKE_MATCH_1}")
      # libtensorflow_framework sits beside the Python package; the loader finds it through this rpath.
      target_link_options(tfforge::tensorflow INTERFACE "LINKER:-rpath,${CMAKE_MATCH_1}")
    else()
      target_link_libraries(tfforge::tensorflow INTERFACE "${_flag}")
    endif()
  endforeach()
  if(TFFORGE_HEADERS_DIR)
    target_include_directories(tfforge::tensorflow INTERFACE "${TFFORGE_HEADERS_DIR}")
  endif()
  set(TFFORGE_TF_FOUND ON)
  set(TFFORGE_TF_ERROR "")
else()
  string(STRIP "${TFFORGE_TF_ERROR}" TFFORGE_TF_ERROR)
  string(REGEX REPLACE ".*\n" "" TFFORGE_TF_ERROR "${TFFORGE_TF_ERROR}")  # the exception's last line
endif()
