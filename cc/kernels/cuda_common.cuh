// Device helpers shared by the .cu kernels: element conversions, packed 4-element loads/stores,
// warp/block reductions (plain sums and Welford mean/variance), and the column-sum kernels the
// backward passes use for dgamma/dbeta/dbias.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/kernels.h"

namespace tfforge::kernels::cuda {

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Four consecutive elements moved with one 16-byte (float) or 8-byte (16-bit types) access.
template <class T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

template <class T>
__device__ __forceinline__ void load4(const T* p, float out[4]) {
  const Pack4<T> pk = *reinterpret_cast<const Pack4<T>*>(p);
#pragma unroll
  for (int k = 0; k < 4; ++k) out[k] = to_f(pk.v[k]);
}

template <class T>
__device__ __forceinline__ void store4(T* p, const float in[4]) {
  Pack4<T> pk;
#pragma unroll
  for (int k = 0; k < 4; ++k) pk.v[k] = from_f<T>(in[k]);
  *reinterpret_cast<Pack4<T>*>(p) = pk;
}

// Packed access is possible when rows are whole packs and every base pointer is pack-aligned.
template <class T>
inline bool can_pack4(int64_t cols, std::initializer_list<const void*> ptrs) {
  if (cols % 4 != 0) return false;
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % (4 * sizeof(T)) != 0) return false;
  return true;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Running mean and sum of squared deviations (Welford), merged with Chan's formula: stable for
// data far from zero, unlike sum(x^2) - sum(x)^2.
struct Welford {
  float mean = 0.0f, m2 = 0.0f, n = 0.0f;

  __device__ __forceinline__ void add(float v) {
    n += 1.0f;
    const float d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
  }
  __device__ __forceinline__ void merge(float omean, float om2, float on) {
    const float total = n + on;
    if (total == 0.0f) return;
    const float d = omean - mean;
    const float w = on / total;
    mean += d * w;
    m2 += om2 + d * d * n * w;
    n = total;
  }
};

__device__ __forceinline__ Welford warp_welford(Welford w) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, w.mean, off);
    const float om2 = __shfl_xor_sync(0xffffffffu, w.m2, off);
    const float on = __shfl_xor_sync(0xffffffffu, w.n, off);
    w.merge(om, om2, on);
  }
  return w;
}

// Row groups: kWarpRows rows per block with a warp each (narrow rows), or one block per row (wide
// rows). Reductions over the group return the total to every thread of the group.
constexpr int kWarpRows = 4;
constexpr int kMaxWarps = 32;

template <bool kBlock>
__device__ __forceinline__ float group_sum(float v, float* smem /* kMaxWarps floats */) {
  v = warp_sum(v);
  if (!kBlock) return v;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  __syncthreads();  // smem may still be read from the previous reduction
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < nwarps ? smem[lane] : 0.0f;
  return warp_sum(v);
}

template <bool kBlock>
__device__ __forceinline__ Welford group_welford(Welford w, float* smem /* 3 * kMaxWarps floats */) {
  w = warp_welford(w);
  if (!kBlock) return w;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) {
    smem[warp] = w.mean;
    smem[kMaxWarps + warp] = w.m2;
    smem[2 * kMaxWarps + warp] = w.n;
  }
  __syncthreads();
  Welford r;
  if (lane < nwarps) r.mean = smem[lane], r.m2 = smem[kMaxWarps + lane], r.n = smem[2 * kMaxWarps + lane];
  return warp_welford(r);
}

// Thread layout of a row kernel: which row a group starts on, how groups step, the thread's index
// inside its group and the group's width.
template <bool kBlock>
struct RowGroup {
  __device__ __forceinline__ int64_t first_row() const {
    return kBlock ? int64_t(blockIdx.x) : int64_t(blockIdx.x) * kWarpRows + threadIdx.y;
  }
  __device__ __forceinline__ int64_t row_step() const {
    return kBlock ? int64_t(gridDim.x) : int64_t(gridDim.x) * kWarpRows;
  }
  __device__ __forceinline__ int lane() const { return threadIdx.x; }
  __device__ __forceinline__ int width() const { return blockDim.x; }
};

struct RowLaunch {
  bool block;
  dim3 grid, threads;
};

// Narrow rows (<= 1024 elements): a warp per row, four rows per block. Wide rows: a block per row.
inline RowLaunch row_launch(RowShape s) {
  constexpr int64_t kMaxGrid = int64_t(1) << 20;  // grid-stride beyond this
  if (s.cols <= 1024) {
    const int64_t blocks = std::min((s.rows + kWarpRows - 1) / kWarpRows, kMaxGrid);
    return {false, dim3(unsigned(std::max<int64_t>(blocks, 1))), dim3(32, kWarpRows)};
  }
  const int threads = s.cols >= 8192 ? 1024 : s.cols >= 4096 ? 512 : 256;
  return {true, dim3(unsigned(std::min(s.rows, kMaxGrid))), dim3(threads)};
}

// ---- column sums (dgamma, dbeta, dbias): partial sums per chunk of rows, then a per-column total ----

constexpr int kColTile = 32;      // columns per block (one warp wide: coalesced row reads)
constexpr int kColRowsPerBlock = 8;
constexpr int64_t kMaxChunks = 256;

inline int64_t col_chunk_rows(int64_t rows) {
  return std::max<int64_t>(kColRowsPerBlock * 4, (rows + kMaxChunks - 1) / kMaxChunks);
}
inline int64_t col_chunks(int64_t rows) {
  return rows <= 0 ? 0 : (rows + col_chunk_rows(rows) - 1) / col_chunk_rows(rows);
}
inline size_t col_partial_bytes(RowShape s, int outputs) {
  return size_t(col_chunks(s.rows)) * size_t(outputs) * size_t(s.cols) * sizeof(float);
}

// Fn::kOut values per element: fn(row, col, out). partial: [chunks][kOut][cols].
template <class Fn>
__global__ void __launch_bounds__(kColTile * kColRowsPerBlock) column_partials(Fn fn, int64_t rows, int64_t cols, int64_t chunk_rows, float* partial) {
  __shared__ float acc[Fn::kOut][kColRowsPerBlock][kColTile + 1];
  const int64_t col = int64_t(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  float sum[Fn::kOut];
#pragma unroll
  for (int k = 0; k < Fn::kOut; ++k) sum[k] = 0.0f;
  if (col < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kColRowsPerBlock) {
      float v[Fn::kOut];
      fn(r, col, v);
#pragma unroll
      for (int k = 0; k < Fn::kOut; ++k) sum[k] += v[k];
    }
  }
#pragma unroll
  for (int k = 0; k < Fn::kOut; ++k) acc[k][threadIdx.y][threadIdx.x] = sum[k];
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
#pragma unroll
    for (int k = 0; k < Fn::kOut; ++k) {
      float t = 0.0f;
      for (int i = 0; i < kColRowsPerBlock; ++i) t += acc[k][i][threadIdx.x];
      partial[(chunk * Fn::kOut + k) * cols + col] = t;
    }
  }
}

template <class T>
__global__ void __launch_bounds__(256) column_finish(const float* partial, int64_t chunks, int64_t cols, int outputs, T* out0, T* out1) {
  for (int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; col < cols; col += int64_t(gridDim.x) * blockDim.x) {
    for (int k = 0; k < outputs; ++k) {
      float t = 0.0f;
      for (int64_t c = 0; c < chunks; ++c) t += partial[(c * outputs + k) * cols + col];
      (k == 0 ? out0 : out1)[col] = from_f<T>(t);
    }
  }
}

// Runs both column stages on `stream`; outputs get zeros when there are no rows.
template <class T, class Fn>
void launch_column_sums(Fn fn, RowShape s, float* partial, T* out0, T* out1, cudaStream_t stream) {
  if (s.cols <= 0) return;
  const int64_t chunks = col_chunks(s.rows);
  if (chunks > 0) {
    const dim3 grid(unsigned((s.cols + kColTile - 1) / kColTile), unsigned(chunks));
    column_partials<Fn><<<grid, dim3(kColTile, kColRowsPerBlock), 0, stream>>>(fn, s.rows, s.cols,
                                                                              col_chunk_rows(s.rows), partial);
  }
  const int64_t blocks = std::min<int64_t>((s.cols + 255) / 256, 4096);
  column_finish<T><<<unsigned(blocks), 256, 0, stream>>>(partial, chunks, s.cols, Fn::kOut, out0, out1);
}

// Maps the kernels' DType to the CUDA element type and calls fn with a typed null pointer.
template <class F>
auto dispatch(DType d, F&& fn) {
  switch (d) {
    case DType::kFloat16: return fn(static_cast<__half*>(nullptr));
    case DType::kBFloat16: return fn(static_cast<__nv_bfloat16*>(nullptr));
    default: return fn(static_cast<float*>(nullptr));
  }
}

}  // namespace tfforge::kernels::cuda
