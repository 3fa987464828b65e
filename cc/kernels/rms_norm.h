// RMSNorm over the last axis: y = x * inv_rms * gamma with inv_rms = 1 / sqrt(mean(x^2) + epsilon).
// The backward pass recomputes inv_rms from x (one pass over a row that is in cache anyway).
#pragma once

#include "kernels/kernels.h"

namespace tfforge::kernels {

void rms_norm_forward_cpu(DType dtype, RowShape shape, const void* x, const void* gamma, float epsilon,
                          void* y, const ParallelFor& parallel = serial_for);
void rms_norm_backward_cpu(DType dtype, RowShape shape, const void* dy, const void* x, const void* gamma,
                           float epsilon, void* dx, void* dgamma, const ParallelFor& parallel = serial_for);

// CUDA versions: see layer_norm.h for the conventions (stream, return value, workspace).
int rms_norm_forward_cuda(DType dtype, RowShape shape, const void* x, const void* gamma, float epsilon,
                          void* y, void* stream);
size_t rms_norm_backward_cuda_workspace_bytes(RowShape shape);
int rms_norm_backward_cuda(DType dtype, RowShape shape, const void* dy, const void* x, const void* gamma,
                           float epsilon, void* dx, void* dgamma, void* workspace, void* stream);

}  // namespace tfforge::kernels
