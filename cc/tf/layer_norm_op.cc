// TfforgeLayerNorm / TfforgeLayerNormGrad: LayerNorm over the last axis (see kernels/layer_norm.h).
#include "kernels/layer_norm.h"
#include "tf/op_util.h"
#include "tensorflow/core/framework/op.h"

namespace tensorflow {
namespace tfforge_ops {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

REGISTER_OP("TfforgeLayerNorm")
    .Input("x: T")
    .Input("gamma: T")
    .Input("beta: T")
    .Output("y: T")
    .Output("mean: float")
    .Output("inv_std: float")
    .Attr("T: {float, half, bfloat16}")
    .Attr("epsilon: float = 0.001")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, y, stats;
      DimensionHandle d;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      TF_RETURN_IF_ERROR(merge_feature_dim(c, x, {1, 2}, &d));
      TF_RETURN_IF_ERROR(with_feature_dim(c, x, d, &y));
      TF_RETURN_IF_ERROR(row_stats_shape(c, x, &stats));
      c->set_output(0, y);
      c->set_output(1, stats);
      c->set_output(2, stats);
      return absl::OkStatus();
    })
    .Doc(R"doc(
LayerNorm over the last axis of x: y = (x - mean) * inv_std * gamma + beta, inv_std = rsqrt(var + epsilon).
mean and inv_std (float32, x's shape without the last axis) feed TfforgeLayerNormGrad.
)doc");

REGISTER_OP("TfforgeLayerNormGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("gamma: T")
    .Input("mean: float")
    .Input("inv_std: float")
    .Output("dx: T")
    .Output("dgamma: T")
    .Output("dbeta: T")
    .Attr("T: {float, half, bfloat16}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, dx, stats;
      DimensionHandle d;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(1), 1, &x));
      TF_RETURN_IF_ERROR(c->Merge(x, c->input(0), &x));
      TF_RETURN_IF_ERROR(merge_feature_dim(c, x, {2}, &d));
      TF_RETURN_IF_ERROR(with_feature_dim(c, x, d, &dx));
      TF_RETURN_IF_ERROR(row_stats_shape(c, x, &stats));
      TF_RETURN_IF_ERROR(c->Merge(stats, c->input(3), &stats));
      TF_RETURN_IF_ERROR(c->Merge(stats, c->input(4), &stats));
      c->set_output(0, dx);
      c->set_output(1, c->Vector(d));
      c->set_output(2, c->Vector(d));
      return absl::OkStatus();
    })
    .Doc("Backward pass of TfforgeLayerNorm: dx, dgamma (sum of dy * x_hat over rows), dbeta (sum of dy).");

// Checks the inputs and allocates the outputs of either op; the device-specific part is Launch.
template <class Device>
class LayerNormOp : public OpKernel {
 public:
  explicit LayerNormOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor &x = ctx->input(0), &gamma = ctx->input(1), &beta = ctx->input(2);
    RowShape s;
    OP_REQUIRES_OK(ctx, row_shape("TfforgeLayerNorm", "x", x, &s));
    OP_REQUIRES_OK(ctx, check_param("TfforgeLayerNorm", "gamma", gamma, s.cols));
    OP_REQUIRES_OK(ctx, check_param("TfforgeLayerNorm", "beta", beta, s.cols));
    TensorShape stats_shape = x.shape();
    stats_shape.RemoveLastDims(1);
    Tensor *y = nullptr, *mean = nullptr, *inv_std = nullptr;
    OP_REQUIRES_OK(ctx, allocate_maybe_in_place<Device>(ctx, x, &y));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, stats_shape, &mean));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, stats_shape, &inv_std));
    if (s.rows == 0) return;
    Launch(ctx, kernel_dtype(x.dtype()), s, x.data(), gamma.data(), beta.data(), y->data(),
           mean->flat<float>().data(), inv_std->flat<float>().data());
  }

 private:
  void Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x, const void* g, const void* b, void* y,
              float* mean, float* inv_std);
  float epsilon_ = 1e-3f;
};

template <class Device>
class LayerNormGradOp : public OpKernel {
 public:
  explicit LayerNormGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const char* op = "TfforgeLayerNormGrad";
    const Tensor &dy = ctx->input(0), &x = ctx->input(1), &gamma = ctx->input(2);
    const Tensor &mean = ctx->input(3), &inv_std = ctx->input(4);
    RowShape s;
    OP_REQUIRES_OK(ctx, row_shape(op, "x", x, &s));
    OP_REQUIRES_OK(ctx, check_same_shape(op, "dy", dy, "x", x));
    OP_REQUIRES_OK(ctx, check_param(op, "gamma", gamma, s.cols));
    OP_REQUIRES_OK(ctx, check_row_stats(op, "mean", mean, x));
    OP_REQUIRES_OK(ctx, check_row_stats(op, "inv_std", inv_std, x));
    Tensor *dx = nullptr, *dgamma = nullptr, *dbeta = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, gamma.shape(), &dgamma));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, gamma.shape(), &dbeta));
    Launch(ctx, kernel_dtype(x.dtype()), s, dy.data(), x.data(), gamma.data(), mean.flat<float>().data(),
           inv_std.flat<float>().data(), dx->data(), dgamma->data(), dbeta->data());
  }

 private:
  void Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy, const void* x, const void* g,
              const float* mean, const float* inv_std, void* dx, void* dg, void* db);
};

template <>
void LayerNormOp<Eigen::ThreadPoolDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x,
                                                  const void* g, const void* b, void* y, float* mean, float* inv_std) {
  if (y != x) advise_huge_pages(y, s.size() * int64_t(::tfforge::kernels::dtype_size(dt)));
  ::tfforge::kernels::layer_norm_forward_cpu(dt, s, x, g, b, epsilon_, y, mean, inv_std, cpu_parallel(ctx));
}

template <>
void LayerNormGradOp<Eigen::ThreadPoolDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy,
                                                      const void* x, const void* g, const float* mean,
                                                      const float* inv_std, void* dx, void* dg, void* db) {
  advise_huge_pages(dx, s.size() * int64_t(::tfforge::kernels::dtype_size(dt)));
  ::tfforge::kernels::layer_norm_backward_cpu(dt, s, dy, x, g, mean, inv_std, dx, dg, db, cpu_parallel(ctx));
}

#define TFFORGE_REGISTER_CPU(T)                                                                         \
  REGISTER_KERNEL_BUILDER(Name("TfforgeLayerNorm").Device(DEVICE_CPU).TypeConstraint<T>("T"),            \
                          LayerNormOp<Eigen::ThreadPoolDevice>);                                        \
  REGISTER_KERNEL_BUILDER(Name("TfforgeLayerNormGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),        \
                          LayerNormGradOp<Eigen::ThreadPoolDevice>);
TFFORGE_REGISTER_CPU(float)
TFFORGE_REGISTER_CPU(Eigen::half)
TFFORGE_REGISTER_CPU(Eigen::bfloat16)
#undef TFFORGE_REGISTER_CPU

#if GOOGLE_CUDA
template <>
void LayerNormOp<Eigen::GpuDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* x, const void* g,
                                           const void* b, void* y, float* mean, float* inv_std) {
  OP_REQUIRES_OK(ctx, cuda_status("TfforgeLayerNorm", ::tfforge::kernels::layer_norm_forward_cuda(
                                                          dt, s, x, g, b, epsilon_, y, mean, inv_std, gpu_stream(ctx))));
}

template <>
void LayerNormGradOp<Eigen::GpuDevice>::Launch(OpKernelContext* ctx, DType dt, RowShape s, const void* dy,
                                               const void* x, const void* g, const float* mean, const float* inv_std,
                                               void* dx, void* dg, void* db) {
  Tensor scratch;
  OP_REQUIRES_OK(ctx, allocate_workspace(ctx, ::tfforge::kernels::layer_norm_backward_cuda_workspace_bytes(s), &scratch));
  OP_REQUIRES_OK(ctx, cuda_status("TfforgeLayerNormGrad",
                                  ::tfforge::kernels::layer_norm_backward_cuda(dt, s, dy, x, g, mean, inv_std, dx, dg, db,
                                                                               scratch.data(), gpu_stream(ctx))));
}

#define TFFORGE_REGISTER_GPU(T)                                                                         \
  REGISTER_KERNEL_BUILDER(Name("TfforgeLayerNorm").Device(DEVICE_GPU).TypeConstraint<T>("T"),            \
                          LayerNormOp<Eigen::GpuDevice>);                                               \
  REGISTER_KERNEL_BUILDER(Name("TfforgeLayerNormGrad").Device(DEVICE_GPU).TypeConstraint<T>("T"),        \
                          LayerNormGradOp<Eigen::GpuDevice>);
TFFORGE_REGISTER_GPU(float)
TFFORGE_REGISTER_GPU(Eigen::half)
TFFORGE_REGISTER_GPU(Eigen::bfloat16)
#undef TFFORGE_REGISTER_GPU
#endif  // GOOGLE_CUDA

}  // namespace tfforge_ops
}  // namespace tensorflow
