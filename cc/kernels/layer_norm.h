// LayerNorm over the last axis: y = (x - mean) * inv_std * gamma + beta, with
// inv_std = 1 / sqrt(var + epsilon) and the population variance. x, y, gamma, beta (and dx, dgamma,
// dbeta) have element type `dtype`; mean and inv_std are float32 (one per row) and are what the
// backward pass consumes.
#pragma once

#include "kernels/kernels.h"

namespace tfforge::kernels {

void layer_norm_forward_cpu(DType dtype, RowShape shape, const void* x, const void* gamma,
                            const void* beta, float epsilon, void* y, float* mean, float* inv_std,
                            const ParallelFor& parallel = serial_for);

void layer_norm_backward_cpu(DType dtype, RowShape shape, const void* dy, const void* x,
                             const void* gamma, const float* mean, const float* inv_std, void* dx,
                             void* dgamma, void* dbeta, const ParallelFor& parallel = serial_for);

// CUDA versions (compiled when nvcc exists; TFFORGE_WITH_CUDA is then defined for users of the
// kernels library). `stream` is a cudaStream_t; the return value is a cudaError_t (0 = success).
// The backward pass needs a float32 scratch buffer of layer_norm_backward_cuda_workspace_bytes().
int layer_norm_forward_cuda(DType dtype, RowShape shape, const void* x, const void* gamma,
                            const void* beta, float epsilon, void* y, float* mean, float* inv_std,
                            void* stream);
size_t layer_norm_backward_cuda_workspace_bytes(RowShape shape);
int layer_norm_backward_cuda(DType dtype, RowShape shape, const void* dy, const void* x,
                             const void* gamma, const float* mean, const float* inv_std, void* dx,
                             void* dgamma, void* dbeta, void* workspace, void* stream);

}  // namespace tfforge::kernels
