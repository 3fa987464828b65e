// RMSNorm on CUDA: same row layout as layer_norm.cu. The backward pass stores each row's inverse
// RMS in the workspace (after the column partials) for the dgamma column sums.
#include "kernels/cuda_common.cuh"
#include "kernels/rms_norm.h"

namespace tfforge::kernels {
namespace cuda {
namespace {

template <class T, bool kBlock, bool kPack>
__device__ __forceinline__ float row_inv_rms(const RowGroup<kBlock>& grp, const T* xr, int64_t cols, float eps,
                                             float* smem) {
  const int64_t step = kPack ? 4 * grp.width() : grp.width();
  float ss = 0.0f;
  for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
    if (kPack) {
      float v[4];
      load4(xr + j, v);
#pragma unroll
      for (int k = 0; k < 4; ++k) ss += v[k] * v[k];
    } else {
      const float v = to_f(xr[j]);
      ss += v * v;
    }
  }
  return rsqrtf(group_sum<kBlock>(ss, smem) / float(cols) + eps);
}

template <class T, bool kBlock, bool kPack>
__global__ void __launch_bounds__(1024) rms_norm_fwd(const T* __restrict__ x, const T* __restrict__ g, int64_t rows, int64_t cols, float eps,
                             T* __restrict__ y) {
  __shared__ float smem[kMaxWarps];
  const RowGroup<kBlock> grp;
  const int64_t step = kPack ? 4 * grp.width() : grp.width();
  for (int64_t row = grp.first_row(); row < rows; row += grp.row_step()) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    const float r = row_inv_rms<T, kBlock, kPack>(grp, xr, cols, eps, smem);
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float v[4], gv[4];
        load4(xr + j, v);
        load4(g + j, gv);
#pragma unroll
        for (int k = 0; k < 4; ++k) v[k] = v[k] * r * gv[k];
        store4(yr + j, v);
      } else {
        yr[j] = from_f<T>(to_f(xr[j]) * r * to_f(g[j]));
      }
    }
  }
}

template <class T, bool kBlock, bool kPack>
__global__ void __launch_bounds__(1024) rms_norm_bwd_dx(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ g,
                                int64_t rows, int64_t cols, float eps, T* __restrict__ dx, float* __restrict__ inv_rms) {
  __shared__ float smem[kMaxWarps];
  const RowGroup<kBlock> grp;
  const int64_t step = kPack ? 4 * grp.width() : grp.width();
  for (int64_t row = grp.first_row(); row < rows; row += grp.row_step()) {
    const T *dyr = dy + row * cols, *xr = x + row * cols;
    T* dxr = dx + row * cols;
    const float r = row_inv_rms<T, kBlock, kPack>(grp, xr, cols, eps, smem);
    if (grp.lane() == 0) inv_rms[row] = r;
    float c = 0.0f;  // sum of dy*g*x_hat
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float d[4], xv[4], gv[4];
        load4(dyr + j, d);
        load4(xr + j, xv);
        load4(g + j, gv);
#pragma unroll
        for (int k = 0; k < 4; ++k) c += d[k] * gv[k] * xv[k] * r;
      } else {
        c += to_f(dyr[j]) * to_f(g[j]) * to_f(xr[j]) * r;
      }
    }
    c = group_sum<kBlock>(c, smem) / float(cols);
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float d[4], xv[4], gv[4];
        load4(dyr + j, d);
        load4(xr + j, xv);
        load4(g + j, gv);
#pragma unroll
        for (int k = 0; k < 4; ++k) d[k] = r * (d[k] * gv[k] - xv[k] * r * c);
        store4(dxr + j, d);
      } else {
        dxr[j] = from_f<T>(r * (to_f(dyr[j]) * to_f(g[j]) - to_f(xr[j]) * r * c));
      }
    }
  }
}

// dgamma += dy * x * inv_rms.
template <class T>
struct RMSNormColumns {
  static constexpr int kOut = 1;
  const T* dy;
  const T* x;
  const float* inv_rms;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* out) const {
    out[0] = to_f(dy[r * cols + c]) * to_f(x[r * cols + c]) * inv_rms[r];
  }
};

}  // namespace
}  // namespace cuda

int rms_norm_forward_cuda(DType dtype, RowShape s, const void* x, const void* gamma, float epsilon, void* y,
                          void* stream) {
  if (s.rows <= 0 || s.cols <= 0) return 0;
  cuda::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T *xp = static_cast<const T*>(x), *gp = static_cast<const T*>(gamma);
    T* yp = static_cast<T*>(y);
    auto st = static_cast<cudaStream_t>(stream);
    const cuda::RowLaunch l = cuda::row_launch(s);
    const bool pack = cuda::can_pack4<T>(s.cols, {xp, gp, yp});
    if (l.block && pack)
      cuda::rms_norm_fwd<T, true, true><<<l.grid, l.threads, 0, st>>>(xp, gp, s.rows, s.cols, epsilon, yp);
    else if (l.block)
      cuda::rms_norm_fwd<T, true, false><<<l.grid, l.threads, 0, st>>>(xp, gp, s.rows, s.cols, epsilon, yp);
    else if (pack)
      cuda::rms_norm_fwd<T, false, true><<<l.grid, l.threads, 0, st>>>(xp, gp, s.rows, s.cols, epsilon, yp);
    else
      cuda::rms_norm_fwd<T, false, false><<<l.grid, l.threads, 0, st>>>(xp, gp, s.rows, s.cols, epsilon, yp);
  });
  return int(cudaGetLastError());
}

// Column partials first (256-byte aligned), then one float per row for the inverse RMS.
static size_t partial_bytes_aligned(RowShape s) { return (cuda::col_partial_bytes(s, 1) + 255) / 256 * 256; }

size_t rms_norm_backward_cuda_workspace_bytes(RowShape s) {
  return partial_bytes_aligned(s) + size_t(std::max<int64_t>(s.rows, 0)) * sizeof(float);
}

int rms_norm_backward_cuda(DType dtype, RowShape s, const void* dy, const void* x, const void* gamma, float epsilon,
                           void* dx, void* dgamma, void* workspace, void* stream) {
  cuda::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T *dyp = static_cast<const T*>(dy), *xp = static_cast<const T*>(x), *gp = static_cast<const T*>(gamma);
    T* dxp = static_cast<T*>(dx);
    auto st = static_cast<cudaStream_t>(stream);
    float* partial = static_cast<float*>(workspace);
    float* inv_rms = reinterpret_cast<float*>(static_cast<char*>(workspace) + partial_bytes_aligned(s));
    if (s.rows > 0 && s.cols > 0) {
      const cuda::RowLaunch l = cuda::row_launch(s);
      const bool pack = cuda::can_pack4<T>(s.cols, {dyp, xp, gp, dxp});
      if (l.block && pack)
        cuda::rms_norm_bwd_dx<T, true, true><<<l.grid, l.threads, 0, st>>>(dyp, xp, gp, s.rows, s.cols, epsilon, dxp, inv_rms);
      else if (l.block)
        cuda::rms_norm_bwd_dx<T, true, false><<<l.grid, l.threads, 0, st>>>(dyp, xp, gp, s.rows, s.cols, epsilon, dxp, inv_rms);
      else if (pack)
        cuda::rms_norm_bwd_dx<T, false, true><<<l.grid, l.threads, 0, st>>>(dyp, xp, gp, s.rows, s.cols, epsilon, dxp, inv_rms);
      else
        cuda::rms_norm_bwd_dx<T, false, false><<<l.grid, l.threads, 0, st>>>(dyp, xp, gp, s.rows, s.cols, epsilon, dxp, inv_rms);
    }
    cuda::launch_column_sums(cuda::RMSNormColumns<T>{dyp, xp, inv_rms, s.cols}, s, partial, static_cast<T*>(dgamma),
                             static_cast<T*>(nullptr), st);
  });
  return int(cudaGetLastError());
}

}  // namespace tfforge::kernels
