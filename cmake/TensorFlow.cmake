# Decides TFFORGE_WITH_OPS from TFFORGE_OPS (AUTO|ON|OFF) and reads the compile/link flags and version
# of the TensorFlow importable by the build's Python (tf.sysconfig), which _ops.so is then tied to.
set(TFFORGE_WITH_OPS OFF)
set(TF_VERSION "")
if(NOT TFFORGE_OPS STREQUAL "OFF")
  execute_process(
    COMMAND ${Python_EXECUTABLE} -c
      "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import tensorflow as tf; s=tf.sysconfig; print(tf.__version__); print('|'.join(s.get_compile_flags())); print('|'.join(s.get_link_flags()))"
    OUTPUT_VARIABLE _tf_out ERROR_VARIABLE _tf_err RESULT_VARIABLE _tf_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_tf_rc EQUAL 0)
    string(REGEX MATCHALL "[^\n]+" _tf_lines "${_tf_out}")
    list(GET _tf_lines -3 TF_VERSION)
    list(GET _tf_lines -2 _tf_cflags)
    list(GET _tf_lines -1 _tf_lflags)
    string(REPLACE "|" ";" TF_COMPILE_FLAGS "${_tf_cflags}")
    string(REPLACE "|" ";" TF_LINK_FLAGS "${_tf_lflags}")
    # libtensorflow_framework sits beside the Python package; let the loader find it without LD_LIBRARY_PATH.
    foreach(_flag ${TF_LINK_FLAGS})
      if(_flag MATCHES "^-L(.*)")
        list(APPEND TF_LINK_FLAGS "-Wl,-rpath,${CMAKE_MATCH_1}")
      endif()
    endforeach()
    set(TFFORGE_WITH_OPS ON)
    message(STATUS "tfforge: _ops.so ON (TensorFlow ${TF_VERSION})")
  elseif(TFFORGE_OPS STREQUAL "ON")
    message(FATAL_ERROR "TFFORGE_OPS=ON but TensorFlow is not importable by ${Python_EXECUTABLE}:\n${_tf_err}")
  else()
    message(STATUS "tfforge: _ops.so OFF (TensorFlow not importable by ${Python_EXECUTABLE})")
  endif()
endif()
