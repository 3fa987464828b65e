// The CUDA kernel of {{Name}}, behind a plain function with no TensorFlow types (nvcc compiles it
// without TensorFlow's headers).
#pragma once

#include <cstdint>

#include "tfforge/kernels/kernels.h"

namespace {{name}}_kernels {

// y = z * sigmoid(z), z = x + bias over the last axis of a [rows, cols] x, on `stream` (a cudaStream_t).
// Returns the launch's cudaError_t (0: success).
int launch(::tfforge::kernels::DType dtype, const void* x, const void* bias, void* y, int64_t rows, int64_t cols,
           void* stream);

}  // namespace {{name}}_kernels
