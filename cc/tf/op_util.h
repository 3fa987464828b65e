// Shared glue between the TensorFlow OpKernels and cc/kernels: dtype mapping, the [rows, cols] view
// of an input, run-time argument checks (InvalidArgument, never a crash), the CPU thread pool as a
// kernels::ParallelFor, and the shape-function pieces the ops have in common.
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>

#include "../kernels/kernels.h"  // relative: also resolves in the installed include/tfforge/
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/threadpool.h"

#if GOOGLE_CUDA
#include "unsupported/Eigen/CXX11/Tensor"
#endif

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace tensorflow {
namespace tfforge_ops {

using ::tfforge::kernels::DType;
using ::tfforge::kernels::RowShape;

inline DType kernel_dtype(DataType t) {
  return t == DT_HALF ? DType::kFloat16 : t == DT_BFLOAT16 ? DType::kBFloat16 : DType::kFloat32;
}

// x viewed as [rows, cols] over its last axis; rank 0 is an error.
inline absl::Status row_shape(const char* op, const char* name, const Tensor& x, RowShape* out) {
  if (x.dims() < 1) {
    return errors::InvalidArgument(op, ": ", name, " must have rank >= 1 (the op works over its last axis), got shape ",
                                   x.shape().DebugString());
  }
  out->cols = x.dim_size(x.dims() - 1);
  out->rows = 1;
  for (int i = 0; i + 1 < x.dims(); ++i) out->rows *= x.dim_size(i);
  return absl::OkStatus();
}

// A per-feature parameter (gamma, beta, bias) must be a vector as long as x's last axis.
inline absl::Status check_param(const char* op, const char* name, const Tensor& p, int64_t cols) {
  if (p.dims() != 1 || p.dim_size(0) != cols) {
    return errors::InvalidArgument(op, ": ", name, " must be a vector of length ", cols,
                                   " (the size of the input's last axis), got shape ", p.shape().DebugString());
  }
  return absl::OkStatus();
}

inline absl::Status check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name,
                                     const Tensor& b) {
  if (a.shape() != b.shape()) {
    return errors::InvalidArgument(op, ": ", a_name, " and ", b_name, " must have the same shape, got ",
                                   a.shape().DebugString(), " and ", b.shape().DebugString());
  }
  return absl::OkStatus();
}

// Per-row statistics (mean, inv_std) must have x's shape without its last axis.
inline absl::Status check_row_stats(const char* op, const char* name, const Tensor& stats, const Tensor& x) {
  TensorShape want = x.shape();
  want.RemoveLastDims(1);
  if (stats.shape() != want) {
    return errors::InvalidArgument(op, ": ", name, " must have shape ", want.DebugString(),
                                   " (the input's shape without its last axis), got ", stats.shape().DebugString());
  }
  return absl::OkStatus();
}

inline ::tfforge::kernels::ParallelFor cpu_parallel(OpKernelContext* ctx) {
  thread::ThreadPool* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  return [pool](int64_t n, int64_t cost, const ::tfforge::kernels::RangeBody& body) {
    if (n <= 0) return;
    pool->ParallelFor(n, cost, [&body](int64_t begin, int64_t end) { body(begin, end); });
  };
}

// TensorFlow's default CPU allocator hands out large outputs as freshly mapped memory, so writing
// them costs one page fault per 4 KiB, which on some machines (VMs) takes longer than the kernel.
// Asking for transparent huge pages on the 2 MiB-aligned interior of a large, not yet touched output
// cuts that to one fault per 2 MiB. Only an advice: ignored where THP is off or memory is reused.
inline void advise_huge_pages(void* p, int64_t bytes) {
#ifdef __linux__
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  if (p == nullptr || bytes < int64_t(4 * kHuge)) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + uintptr_t(bytes)) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

#if GOOGLE_CUDA
inline void* gpu_stream(OpKernelContext* ctx) {
  return static_cast<void*>(ctx->eigen_device<Eigen::GpuDevice>().stream());
}

// Float32 scratch of at least `bytes` for a backward kernel's column partial sums (never empty, so
// data() is a valid pointer even for zero-width workspaces).
inline absl::Status allocate_workspace(OpKernelContext* ctx, size_t bytes, Tensor* scratch) {
  const int64_t floats = int64_t((bytes + sizeof(float) - 1) / sizeof(float));
  return ctx->allocate_temp(DT_FLOAT, TensorShape({std::max<int64_t>(floats, 1)}), scratch);
}

inline absl::Status cuda_status(const char* op, int err) {
  if (err == 0) return absl::OkStatus();
  return errors::Internal(op, ": CUDA kernel launch failed with cudaError ", err);
}
#endif

// Output 0 with x's shape. On the CPU it may take over x's buffer (input 0) when nothing else holds x:
// the CPU kernels read each element before writing the same element of y, so in place is safe. The
// CUDA kernels declare x and y __restrict__, so they always get a buffer of their own.
template <class Device>
absl::Status allocate_maybe_in_place(OpKernelContext* ctx, const Tensor& x, Tensor** y) {
  if (std::is_same<Device, Eigen::ThreadPoolDevice>::value) {
    return ctx->forward_input_or_allocate_output({0}, 0, x.shape(), y);
  }
  return ctx->allocate_output(0, x.shape(), y);
}

// ---- shape-function pieces ----

// The merged size of x's last axis and each parameter vector's length; an error when two are known
// and differ.
inline absl::Status merge_feature_dim(shape_inference::InferenceContext* c, shape_inference::ShapeHandle x,
                                      std::initializer_list<int> param_inputs, shape_inference::DimensionHandle* dim) {
  *dim = c->RankKnown(x) ? c->Dim(x, -1) : c->UnknownDim();
  for (int i : param_inputs) {
    shape_inference::ShapeHandle p;
    TF_RETURN_IF_ERROR(c->WithRank(c->input(i), 1, &p));
    TF_RETURN_IF_ERROR(c->Merge(*dim, c->Dim(p, 0), dim));
  }
  return absl::OkStatus();
}

// x's shape with its last axis refined to `dim` (unknown rank stays unknown).
inline absl::Status with_feature_dim(shape_inference::InferenceContext* c, shape_inference::ShapeHandle x,
                                     shape_inference::DimensionHandle dim, shape_inference::ShapeHandle* out) {
  if (!c->RankKnown(x)) {
    *out = x;
    return absl::OkStatus();
  }
  return c->ReplaceDim(x, -1, dim, out);
}

// x's shape without its last axis (unknown rank gives unknown).
inline absl::Status row_stats_shape(shape_inference::InferenceContext* c, shape_inference::ShapeHandle x,
                                    shape_inference::ShapeHandle* out) {
  if (!c->RankKnown(x)) {
    *out = c->UnknownShape();
    return absl::OkStatus();
  }
  return c->Subshape(x, 0, -1, out);
}

}  // namespace tfforge_ops
}  // namespace tensorflow
