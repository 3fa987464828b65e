// Bias add + GELU: y = gelu(x + bias), bias broadcast over the last axis. approximate=false is the
// exact form 0.5 z (1 + erf(z / sqrt 2)); approximate=true the tanh form
// 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))). The backward pass returns dx (= dz) and
// dbias (dz summed over all rows).
#pragma once

#include "kernels/kernels.h"

namespace tfforge::kernels {

void bias_gelu_forward_cpu(DType dtype, RowShape shape, const void* x, const void* bias, bool approximate,
                           void* y, const ParallelFor& parallel = serial_for);
void bias_gelu_backward_cpu(DType dtype, RowShape shape, const void* dy, const void* x, const void* bias,
                            bool approximate, void* dx, void* dbias, const ParallelFor& parallel = serial_for);

// CUDA versions: see layer_norm.h for the conventions (stream, return value, workspace).
int bias_gelu_forward_cuda(DType dtype, RowShape shape, const void* x, const void* bias, bool approximate,
                           void* y, void* stream);
size_t bias_gelu_backward_cuda_workspace_bytes(RowShape shape);
int bias_gelu_backward_cuda(DType dtype, RowShape shape, const void* dy, const void* x, const void* bias,
                            bool approximate, void* dx, void* dbias, void* workspace, void* stream);

// Scalar GELU and its derivative in float, the definition every path is checked against.
namespace gelu {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kCubic = 0.044715f;
}  // namespace gelu

}  // namespace tfforge::kernels
