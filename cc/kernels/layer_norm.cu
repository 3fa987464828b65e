// LayerNorm on CUDA: a warp per row (<= 1024 columns) or a block per row, Welford statistics merged
// across the group, packed 4-element loads/stores when alignment allows. The backward pass computes
// dx per row the same way and dgamma/dbeta with the two-stage column sums of cuda_common.cuh.
#include "kernels/cuda_common.cuh"
#include "kernels/layer_norm.h"

namespace tfforge::kernels {
namespace cuda {
namespace {

template <class T, bool kBlock, bool kPack>
__global__ void __launch_bounds__(1024) layer_norm_fwd(const T* __restrict__ x, const T* __restrict__ g, const T* __restrict__ b,
                               int64_t rows, int64_t cols, float eps, T* __restrict__ y, float* __restrict__ mean_out,
                               float* __restrict__ rstd_out) {
  __shared__ float smem[3 * kMaxWarps];
  const RowGroup<kBlock> grp;
  const int64_t step = kPack ? 4 * grp.width() : grp.width();
  for (int64_t row = grp.first_row(); row < rows; row += grp.row_step()) {
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    Welford w;
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float v[4];
        load4(xr + j, v);
#pragma unroll
        for (int k = 0; k < 4; ++k) w.add(v[k]);
      } else {
        w.add(to_f(xr[j]));
      }
    }
    w = group_welford<kBlock>(w, smem);
    const float mean = cols > 0 ? w.mean : __int_as_float(0x7fc00000);
    const float rstd = rsqrtf(w.m2 / float(cols) + eps);
    if (grp.lane() == 0) mean_out[row] = mean, rstd_out[row] = rstd;
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float v[4], gv[4], bv[4];
        load4(xr + j, v);
        load4(g + j, gv);
        load4(b + j, bv);
#pragma unroll
        for (int k = 0; k < 4; ++k) v[k] = (v[k] - mean) * rstd * gv[k] + bv[k];
        store4(yr + j, v);
      } else {
        yr[j] = from_f<T>((to_f(xr[j]) - mean) * rstd * to_f(g[j]) + to_f(b[j]));
      }
    }
  }
}

template <class T, bool kBlock, bool kPack>
__global__ void __launch_bounds__(1024) layer_norm_bwd_dx(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ g,
                                  const float* __restrict__ mean_in, const float* __restrict__ rstd_in, int64_t rows,
                                  int64_t cols, T* __restrict__ dx) {
  __shared__ float smem[kMaxWarps];
  const RowGroup<kBlock> grp;
  const int64_t step = kPack ? 4 * grp.width() : grp.width();
  for (int64_t row = grp.first_row(); row < rows; row += grp.row_step()) {
    const T *dyr = dy + row * cols, *xr = x + row * cols;
    T* dxr = dx + row * cols;
    const float mean = mean_in[row], rstd = rstd_in[row];
    float a = 0.0f, c = 0.0f;  // sums of dy*g and dy*g*x_hat
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float d[4], xv[4], gv[4];
        load4(dyr + j, d);
        load4(xr + j, xv);
        load4(g + j, gv);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const float gd = d[k] * gv[k];
          a += gd;
          c += gd * (xv[k] - mean) * rstd;
        }
      } else {
        const float gd = to_f(dyr[j]) * to_f(g[j]);
        a += gd;
        c += gd * (to_f(xr[j]) - mean) * rstd;
      }
    }
    a = group_sum<kBlock>(a, smem) / float(cols);
    c = group_sum<kBlock>(c, smem) / float(cols);
    for (int64_t j = (kPack ? 4 : 1) * grp.lane(); j < cols; j += step) {
      if (kPack) {
        float d[4], xv[4], gv[4];
        load4(dyr + j, d);
        load4(xr + j, xv);
        load4(g + j, gv);
#pragma unroll
        for (int k = 0; k < 4; ++k) d[k] = rstd * (d[k] * gv[k] - a - (xv[k] - mean) * rstd * c);
        store4(dxr + j, d);
      } else {
        const float xh = (to_f(xr[j]) - mean) * rstd;
        dxr[j] = from_f<T>(rstd * (to_f(dyr[j]) * to_f(g[j]) - a - xh * c));
      }
    }
  }
}

// dgamma += dy * x_hat, dbeta += dy.
template <class T>
struct LayerNormColumns {
  static constexpr int kOut = 2;
  const T* dy;
  const T* x;
  const float* mean;
  const float* rstd;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* out) const {
    const float d = to_f(dy[r * cols + c]);
    out[0] = d * (to_f(x[r * cols + c]) - mean[r]) * rstd[r];
    out[1] = d;
  }
};

template <class T, bool kPack>
void launch_forward(RowShape s, const T* x, const T* g, const T* b, float eps, T* y, float* mean, float* rstd,
                    cudaStream_t stream) {
  const RowLaunch l = row_launch(s);
  if (l.block)
    layer_norm_fwd<T, true, kPack><<<l.grid, l.threads, 0, stream>>>(x, g, b, s.rows, s.cols, eps, y, mean, rstd);
  else
    layer_norm_fwd<T, false, kPack><<<l.grid, l.threads, 0, stream>>>(x, g, b, s.rows, s.cols, eps, y, mean, rstd);
}

template <class T, bool kPack>
void launch_backward_dx(RowShape s, const T* dy, const T* x, const T* g, const float* mean, const float* rstd, T* dx,
                        cudaStream_t stream) {
  const RowLaunch l = row_launch(s);
  if (l.block)
    layer_norm_bwd_dx<T, true, kPack><<<l.grid, l.threads, 0, stream>>>(dy, x, g, mean, rstd, s.rows, s.cols, dx);
  else
    layer_norm_bwd_dx<T, false, kPack><<<l.grid, l.threads, 0, stream>>>(dy, x, g, mean, rstd, s.rows, s.cols, dx);
}

}  // namespace
}  // namespace cuda

int layer_norm_forward_cuda(DType dtype, RowShape s, const void* x, const void* gamma, const void* beta,
                            float epsilon, void* y, float* mean, float* inv_std, void* stream) {
  if (s.rows <= 0) return 0;
  cuda::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T *xp = static_cast<const T*>(x), *gp = static_cast<const T*>(gamma), *bp = static_cast<const T*>(beta);
    T* yp = static_cast<T*>(y);
    auto st = static_cast<cudaStream_t>(stream);
    if (cuda::can_pack4<T>(s.cols, {xp, gp, bp, yp}))
      cuda::launch_forward<T, true>(s, xp, gp, bp, epsilon, yp, mean, inv_std, st);
    else
      cuda::launch_forward<T, false>(s, xp, gp, bp, epsilon, yp, mean, inv_std, st);
  });
  return int(cudaGetLastError());
}

size_t layer_norm_backward_cuda_workspace_bytes(RowShape s) { return cuda::col_partial_bytes(s, 2); }

int layer_norm_backward_cuda(DType dtype, RowShape s, const void* dy, const void* x, const void* gamma,
                             const float* mean, const float* inv_std, void* dx, void* dgamma, void* dbeta,
                             void* workspace, void* stream) {
  cuda::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T *dyp = static_cast<const T*>(dy), *xp = static_cast<const T*>(x), *gp = static_cast<const T*>(gamma);
    T* dxp = static_cast<T*>(dx);
    auto st = static_cast<cudaStream_t>(stream);
    if (s.rows > 0 && s.cols > 0) {
      if (cuda::can_pack4<T>(s.cols, {dyp, xp, gp, dxp}))
        cuda::launch_backward_dx<T, true>(s, dyp, xp, gp, mean, inv_std, dxp, st);
      else
        cuda::launch_backward_dx<T, false>(s, dyp, xp, gp, mean, inv_std, dxp, st);
    }
    cuda::launch_column_sums(cuda::LayerNormColumns<T>{dyp, xp, mean, inv_std, s.cols}, s,
                             static_cast<float*>(workspace), static_cast<T*>(dgamma), static_cast<T*>(dbeta), st);
  });
  return int(cudaGetLastError());
}

}  // namespace tfforge::kernels
