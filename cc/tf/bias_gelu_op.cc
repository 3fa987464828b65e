// TfforgeBiasGelu / TfforgeBiasGeluGrad: gelu(x + bias) over the last axis (see kernels/bias_gelu.h).
#include "kernels/bias_gelu.h"
#include "tf/op_util.h"
#include "tensorflow/core/framework/op.h"

namespace tensorflow {
namespace tfforge_ops {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

REGISTER_OP("TfforgeBiasGelu")
    .Input("x: T")
    .Input("bias: T")
    .Output("y: T")
    .Attr("T: {float, half, bfloat16}")
    .Attr("approximate: bool = false")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, y;
      DimensionHandle d;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      TF_RETURN_IF_ERROR(merge_feature_dim(c, x, {1}, &d));
      TF_RETURN_IF_ERROR(with_feature_dim(c, x, d, &y));
      c->set_output(0, y);
      return absl::OkStatus();
    })
    .Doc("y = gelu(x + bias), bias over the last axis; approximate selects the tanh form over the exact erf form.");

REGISTER_OP("TfforgeBiasGeluGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("bias: T")
    .Output("dx: T")
    .Output("dbias: T")
    .Attr("T: {float, half, bfloat16}")
    .Attr("approximate: bool = false")
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
    .Doc("Backward pass of TfforgeBiasGelu: dx = dy * gelu'(x + bias) and dbias = dx summed over rows.");

template <class Device>
class BiasGeluOp : public OpKernel {
 public:
  explicit BiasGeluOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("approximate", &approximate_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor &x = ctx->input(0), &bias = ctx->input(1);
    RowShape s;
    OP_REQUIRES_OK(ctx, row_shape("TfforgeBiasGelu", "x", x, &s));
    OP_REQUIRES_OK(ctx, check_param("TfforgeBiasGelu", "bias", bias, s.cols));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, allocate_maybe_in_place<Device>(ctx, x, &y));
    if (s.size() == 0) return;
    Launch(ctx, kernel_dtype(x.dtype()), s, x.data(), bias.data(), y->data());
  }

 private:
  void Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x, const void* b, void* y);
  bool approximate_ = false;
};

template <class Device>
class BiasGeluGradOp : public OpKernel {
 public:
  explicit BiasGeluGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("approximate", &approximate_));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = "TfforgeBiasGeluGrad";
    const Tensor &dy = ctx->input(0), &x = ctx->input(1), &bias = ctx->input(2);
    RowShape s;
    OP_REQUIRES_OK(ctx, row_shape(op, "x", x, &s));
    OP_REQUIRES_OK(ctx, check_same_shape(op, "dy", dy, "x", x));
    OP_REQUIRES_OK(ctx, check_param(op, "bias", bias, s.cols));
    Tensor *dx = nullptr, *dbias = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, bias.shape(), &dbias));
    Launch(ctx, kernel_dtype(x.dtype()), s, dy.data(), x.data(), bias.data(), dx->data(), dbias->data());
  }

 private:
  void Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy, const void* x, const void* b, void* dx,
              void* db);
  bool approximate_ = false;
};

template <>
void BiasGeluOp<Eigen::ThreadPoolDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x,
                                                 const void* b, void* y) {
  if (y != x) advise_huge_pages(y, s.size() * int64_t(::tfforge::kernels::dtype_size(dt)));
  ::tfforge::kernels::bias_gelu_forward_cpu(dt, s, x, b, approximate_, y, cpu_parallel(ctx));
}

template <>
void BiasGeluGradOp<Eigen::ThreadPoolDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy,
                                                     const void* x, const void* b, void* dx, void* db) {
  advise_huge_pages(dx, s.size() * int64_t(::tfforge::kernels::dtype_size(dt)));
  ::tfforge::kernels::bias_gelu_backward_cpu(dt, s, dy, x, b, approximate_, dx, db, cpu_parallel(ctx));
}

#define TFFORGE_REGISTER_CPU(T)                                                                     \
  REGISTER_KERNEL_BUILDER(Name("TfforgeBiasGelu").Device(DEVICE_CPU).TypeConstraint<T>("T"),         \
                          BiasGeluOp<Eigen::ThreadPoolDevice>);                                     \
  REGISTER_KERNEL_BUILDER(Name("TfforgeBiasGeluGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),     \
                          BiasGeluGradOp<Eigen::ThreadPoolDevice>);
TFFORGE_REGISTER_CPU(float)
TFFORGE_REGISTER_CPU(Eigen::half)
TFFORGE_REGISTER_CPU(Eigen::bfloat16)
#undef TFFORGE_REGISTER_CPU

#if GOOGLE_CUDA
template <>
void BiasGeluOp<Eigen::GpuDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x, const void* b,
                                          void* y) {
  OP_REQUIRES_OK(ctx, cuda_status("TfforgeBiasGelu", ::tfforge::kernels::bias_gelu_forward_cuda(
                                                         dt, s, x, b, approximate_, y, gpu_stream(ctx))));
}

template <>
void BiasGeluGradOp<Eigen::GpuDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy,
                                              const void* x, const void* b, void* dx, void* db) {
  Tensor scratch;
  OP_REQUIRES_OK(ctx, allocate_workspace(ctx, ::tfforge::kernels::bias_gelu_backward_cuda_workspace_bytes(s), &scratch));
  OP_REQUIRES_OK(ctx, cuda_status("TfforgeBiasGeluGrad",
                                  ::tfforge::kernels::bias_gelu_backward_cuda(dt, s, dy, x, b, approximate_, dx, db,
                                                                              scratch.data(), gpu_stream(ctx))));
}

#define TFFORGE_REGISTER_GPU(T)                                                                     \
  REGISTER_KERNEL_BUILDER(Name("TfforgeBiasGelu").Device(DEVICE_GPU).TypeConstraint<T>("T"),         \
                          BiasGeluOp<Eigen::GpuDevice>);                                            \
  REGISTER_KERNEL_BUILDER(Name("TfforgeBiasGeluGrad").Device(DEVICE_GPU).TypeConstraint<T>("T"),     \
                          BiasGeluGradOp<Eigen::GpuDevice>);
TFFORGE_REGISTER_GPU(float)
TFFORGE_REGISTER_GPU(Eigen::half)
TFFORGE_REGISTER_GPU(Eigen::bfloat16)
#undef TFFORGE_REGISTER_GPU
#endif  // GOOGLE_CUDA

}  // namespace tfforge_ops
}  // namespace tensorflow
