// Bias add + GELU on CUDA: elementwise over packs of four (grid-stride), the bias index taken from
// the column; dbias is the column sum of dx with the two-stage column sums of cuda_common.cuh.
#include "kernels/bias_gelu.h"
#include "kernels/cuda_common.cuh"

namespace tfforge::kernels {
namespace cuda {
namespace {

__device__ __forceinline__ float gelu_value(float z, bool approx) {
  using namespace gelu;
  if (approx) return 0.5f * z * (1.0f + tanhf(kSqrt2OverPi * (z + kCubic * z * z * z)));
  return 0.5f * z * (1.0f + erff(z * kInvSqrt2));
}

__device__ __forceinline__ float gelu_slope(float z, bool approx) {
  using namespace gelu;
  if (approx) {
    const float t = tanhf(kSqrt2OverPi * (z + kCubic * z * z * z));
    return 0.5f * (1.0f + t) + 0.5f * z * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * z * z);
  }
  return 0.5f * (1.0f + erff(z * kInvSqrt2)) + z * kInvSqrt2Pi * __expf(-0.5f * z * z);
}

// Forward when dy == nullptr (y = gelu(x + b)), backward otherwise (out = dy * gelu'(x + b)).
template <class T, bool kPack>
__global__ void __launch_bounds__(256) bias_gelu_elementwise(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ b,
                                      int64_t total, int64_t cols, bool approx, T* __restrict__ out) {
  constexpr int kWidth = kPack ? 4 : 1;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * kWidth;
  for (int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * kWidth; i < total; i += stride) {
    const int64_t c = i % cols;  // packs never straddle rows: cols % 4 == 0 when packed
    float v[kWidth], bv[kWidth], d[kWidth];
    if (kPack) {
      load4(x + i, v);
      load4(b + c, bv);
      if (dy) load4(dy + i, d);
    } else {
      v[0] = to_f(x[i]);
      bv[0] = to_f(b[c]);
      if (dy) d[0] = to_f(dy[i]);
    }
#pragma unroll
    for (int k = 0; k < kWidth; ++k) v[k] = dy ? d[k] * gelu_slope(v[k] + bv[k], approx) : gelu_value(v[k] + bv[k], approx);
    if (kPack)
      store4(out + i, v);
    else
      out[i] = from_f<T>(v[0]);
  }
}

template <class T>
struct SumColumns {
  static constexpr int kOut = 1;
  const T* v;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* out) const { out[0] = to_f(v[r * cols + c]); }
};

template <class T>
void launch_elementwise(RowShape s, const T* dy, const T* x, const T* b, bool approx, T* out, cudaStream_t stream) {
  const int64_t total = s.size();
  if (total <= 0) return;
  const bool pack = can_pack4<T>(s.cols, {dy ? static_cast<const void*>(dy) : static_cast<const void*>(x), x, b, out});
  const int64_t units = pack ? total / 4 : total;
  const unsigned blocks = unsigned(std::min<int64_t>((units + 255) / 256, int64_t(1) << 20));
  if (pack)
    bias_gelu_elementwise<T, true><<<blocks, 256, 0, stream>>>(dy, x, b, total, s.cols, approx, out);
  else
    bias_gelu_elementwise<T, false><<<blocks, 256, 0, stream>>>(dy, x, b, total, s.cols, approx, out);
}

}  // namespace
}  // namespace cuda

int bias_gelu_forward_cuda(DType dtype, RowShape s, const void* x, const void* bias, bool approximate, void* y,
                           void* stream) {
  cuda::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cuda::launch_elementwise<T>(s, nullptr, static_cast<const T*>(x), static_cast<const T*>(bias), approximate,
                                static_cast<T*>(y), static_cast<cudaStream_t>(stream));
  });
  return int(cudaGetLastError());
}

size_t bias_gelu_backward_cuda_workspace_bytes(RowShape s) { return cuda::col_partial_bytes(s, 1); }

int bias_gelu_backward_cuda(DType dtype, RowShape s, const void* dy, const void* x, const void* bias, bool approximate,
                            void* dx, void* dbias, void* workspace, void* stream) {
  cuda::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto st = static_cast<cudaStream_t>(stream);
    T* dxp = static_cast<T*>(dx);
    cuda::launch_elementwise<T>(s, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(bias),
                                approximate, dxp, st);
    cuda::launch_column_sums(cuda::SumColumns<T>{dxp, s.cols}, s, static_cast<float*>(workspace),
                             static_cast<T*>(dbias), static_cast<T*>(nullptr), st);
  });
  return int(cudaGetLastError());
}

}  // namespace tfforge::kernels
