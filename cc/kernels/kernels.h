// Device-agnostic math kernels: plain functions over raw pointers and sizes, no TensorFlow includes.
// Each family declares its functions in <name>.h and implements them in <name>_cpu.cc and <name>.cu;
// this header only collects what is common to all of them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tfforge::kernels {

// Element types the kernels accept; float16/bfloat16 are stored as raw 16-bit patterns and
// accumulated in float32.
enum class DType { kFloat32, kFloat16, kBFloat16 };

}  // namespace tfforge::kernels
