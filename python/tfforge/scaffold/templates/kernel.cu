// CUDA kernel of {{Name}}: one thread per element (grid-stride), float32 math for every dtype.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "{{name}}_kernel.h"

namespace {{name}}_kernels {
namespace {

template <class T>
__global__ void elementwise(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y, int64_t n,
                            int64_t cols) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float z = static_cast<float>(x[i]) + static_cast<float>(bias[i % cols]);
    y[i] = static_cast<T>(z / (1.0f + __expf(-z)));
  }
}

template <class T>
int run(const void* x, const void* bias, void* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  const int64_t n = rows * cols;
  constexpr int kThreads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
  elementwise<T><<<blocks, kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(bias),
                                                  static_cast<T*>(y), n, cols);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int launch(::tfforge::kernels::DType dtype, const void* x, const void* bias, void* y, int64_t rows, int64_t cols,
           void* stream) {
  if (rows * cols == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case ::tfforge::kernels::DType::kFloat16: return run<__half>(x, bias, y, rows, cols, s);
    case ::tfforge::kernels::DType::kBFloat16: return run<__nv_bfloat16>(x, bias, y, rows, cols, s);
    default: return run<float>(x, bias, y, rows, cols, s);
  }
}

}  // namespace {{name}}_kernels
