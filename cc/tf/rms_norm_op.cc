// TfforgeRMSNorm / TfforgeRMSNormGrad: RMSNorm over the last axis (see kernels/rms_norm.h).
#include "kernels/rms_norm.h"
#include "tf/op_util.h"
#include "tensorflow/core/framework/op.h"

namespace tensorflow {
namespace tfforge_ops {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

REGISTER_OP("TfforgeRMSNorm")
    .Input("x: T")
    .Input("gamma: T")
    .Output("y: T")
    .Attr("T: {float, half, bfloat16}")
    .Attr("epsilon: float = 1e-6")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, y;
      DimensionHandle d;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      TF_RETURN_IF_ERROR(merge_feature_dim(c, x, {1}, &d));
      TF_RETURN_IF_ERROR(with_feature_dim(c, x, d, &y));
      c->set_output(0, y);
      return absl::OkStatus();
    })
    .Doc("RMSNorm over the last axis of x: y = x * rsqrt(mean(x^2) + epsilon) * gamma.");

REGISTER_OP("TfforgeRMSNormGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("gamma: T")
    .Output("dx: T")
    .Output("dgamma: T")
    .Attr("T: {float, half, bfloat16}")
    .Attr("epsilon: float = 1e-6")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, dx;
      DimensionHandle d;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(1), 1, &x));
      TF_RETURN_IF_ERROR(c->Merge(x, c->input(0), &x));
      TF_RETURN_IF_ERROR(merge_feature_dim(c, x, {2}, &d));
      TF_RETURN_IF_ERROR(with_feature_dim(c, x, d, &dx));
      c->set_output(0, dx);
      c->set_output(1, c->Vector(d));
      return absl::OkStatus();
    })
    .Doc("Backward pass of TfforgeRMSNorm (recomputes the inverse RMS from x): dx and dgamma.");

template <class Device>
class RMSNormOp : public OpKernel {
 public:
  explicit RMSNormOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor &x = ctx->input(0), &gamma = ctx->input(1);
    RowShape s;
    OP_REQUIRES_OK(ctx, row_shape("TfforgeRMSNorm", "x", x, &s));
    OP_REQUIRES_OK(ctx, check_param("TfforgeRMSNorm", "gamma", gamma, s.cols));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, allocate_maybe_in_place<Device>(ctx, x, &y));
    if (s.size() == 0) return;
    Launch(ctx, kernel_dtype(x.dtype()), s, x.data(), gamma.data(), y->data());
  }

 private:
  void Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x, const void* g, void* y);
  float epsilon_ = 1e-6f;
};

template <class Device>
class RMSNormGradOp : public OpKernel {
 public:
  explicit RMSNormGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = "TfforgeRMSNormGrad";
    const Tensor &dy = ctx->input(0), &x = ctx->input(1), &gamma = ctx->input(2);
    RowShape s;
    OP_REQUIRES_OK(ctx, row_shape(op, "x", x, &s));
    OP_REQUIRES_OK(ctx, check_same_shape(op, "dy", dy, "x", x));
    OP_REQUIRES_OK(ctx, check_param(op, "gamma", gamma, s.cols));
    Tensor *dx = nullptr, *dgamma = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, gamma.shape(), &dgamma));
    Launch(ctx, kernel_dtype(x.dtype()), s, dy.data(), x.data(), gamma.data(), dx->data(), dgamma->data());
  }

 private:
  void Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy, const void* x, const void* g, void* dx,
              void* dg);
  float epsilon_ = 1e-6f;
};

template <>
void RMSNormOp<Eigen::ThreadPoolDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x,
                                                const void* g, void* y) {
  if (y != x) advise_huge_pages(y, s.size() * int64_t(::tfforge::kernels::dtype_size(dt)));
  ::tfforge::kernels::rms_norm_forward_cpu(dt, s, x, g, epsilon_, y, cpu_parallel(ctx));
}

template <>
void RMSNormGradOp<Eigen::ThreadPoolDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy,
                                                    const void* x, const void* g, void* dx, void* dg) {
  advise_huge_pages(dx, s.size() * int64_t(::tfforge::kernels::dtype_size(dt)));
  ::tfforge::kernels::rms_norm_backward_cpu(dt, s, dy, x, g, epsilon_, dx, dg, cpu_parallel(ctx));
}

#define TFFORGE_REGISTER_CPU(T)                                                                     \
  REGISTER_KERNEL_BUILDER(Name("TfforgeRMSNorm").Device(DEVICE_CPU).TypeConstraint<T>("T"),          \
                          RMSNormOp<Eigen::ThreadPoolDevice>);                                      \
  REGISTER_KERNEL_BUILDER(Name("TfforgeRMSNormGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),      \
                          RMSNormGradOp<Eigen::ThreadPoolDevice>);
TFFORGE_REGISTER_CPU(float)
TFFORGE_REGISTER_CPU(Eigen::half)
TFFORGE_REGISTER_CPU(Eigen::bfloat16)
#undef TFFORGE_REGISTER_CPU

#if GOOGLE_CUDA
template <>
void RMSNormOp<Eigen::GpuDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x, const void* g,
                                         void* y) {
  OP_REQUIRES_OK(ctx, cuda_status("TfforgeRMSNorm",
                                  ::tfforge::kernels::rms_norm_forward_cuda(dt, s, x, g, epsilon_, y, gpu_stream(ctx))));
}

template <>
void RMSNormGradOp<Eigen::GpuDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy,
                                             const void* x, const void* g, void* dx, void* dg) {
  Tensor scratch;
  OP_REQUIRES_OK(ctx, allocate_workspace(ctx, ::tfforge::kernels::rms_norm_backward_cuda_workspace_bytes(s), &scratch));
  OP_REQUIRES_OK(ctx, cuda_status("TfforgeRMSNormGrad",
                                  ::tfforge::kernels::rms_norm_backward_cuda(dt, s, dy, x, g, epsilon_, dx, dg,
                                                                             scratch.data(), gpu_stream(ctx))));
}

#define TFFORGE_REGISTER_GPU(T)                                                                     \
  REGISTER_KERNEL_BUILDER(Name("TfforgeRMSNorm").Device(DEVICE_GPU).TypeConstraint<T>("T"),          \
                          RMSNormOp<Eigen::GpuDevice>);                                             \
  REGISTER_KERNEL_BUILDER(Name("TfforgeRMSNormGrad").Device(DEVICE_GPU).TypeConstraint<T>("T"),      \
                          RMSNormGradOp<Eigen::GpuDevice>);
TFFORGE_REGISTER_GPU(float)
TFFORGE_REGISTER_GPU(Eigen::half)
TFFORGE_REGISTER_GPU(Eigen::bfloat16)
#undef TFFORGE_REGISTER_GPU
#endif  // GOOGLE_CUDA

}  // namespace tfforge_ops
}  // namespace tensorflow
