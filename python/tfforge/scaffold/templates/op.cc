// {{Name}}: y = z * sigmoid(z) with z = x + bias, bias broadcast over x's last axis
// (x of any rank >= 1; float32, float16 or bfloat16, computed in float32). This file registers the op with its shape
// function and holds its CPU kernel; to make the op your own, replace the math in
// {{name}}_row{{#cuda}} and in cc/{{name}}_kernel.cu{{/cuda}}.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tfforge/kernels/cpu_rows.h"  // for_each_row: rows over the CPU thread pool
#include "tfforge/tf/op_util.h"        // cpu_parallel, argument checks, shape-function pieces
{{#cuda}}
#if GOOGLE_CUDA
#include "{{name}}_kernel.h"
#endif
{{/cuda}}

namespace {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;
namespace tfops = ::tensorflow::tfforge_ops;

constexpr char kOp[] = "{{Name}}";

// One row of the op: the math to replace.
template <class T>
void {{name}}_row(const T* x, const T* bias, T* y, int64_t cols) {
  for (int64_t j = 0; j < cols; ++j) {
    const float z = static_cast<float>(x[j]) + static_cast<float>(bias[j]);
    y[j] = static_cast<T>(z / (1.0f + std::exp(-z)));
  }
}

template <class Device, class T>
class {{Name}}Op : public OpKernel {
 public:
  explicit {{Name}}Op(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& bias = ctx->input(1);
    tfops::RowShape shape;
    OP_REQUIRES_OK(ctx, tfops::row_shape(kOp, "x", x, &shape));
    OP_REQUIRES_OK(ctx, tfops::check_param(kOp, "bias", bias, shape.cols));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    if (shape.size() == 0) return;
    const T* xp = x.flat<T>().data();
    const T* bp = bias.flat<T>().data();
    T* yp = y->flat<T>().data();
    if constexpr (std::is_same_v<Device, Eigen::ThreadPoolDevice>) {
      const int64_t cols = shape.cols;
      ::tfforge::kernels::cpu::for_each_row(shape.rows, 20 * cols, tfops::cpu_parallel(ctx), [&](int64_t r) {
        {{name}}_row(xp + r * cols, bp, yp + r * cols, cols);
      });
    }{{#cuda}} else {
#if GOOGLE_CUDA
      const int err = {{name}}_kernels::launch(tfops::kernel_dtype(x.dtype()), xp, bp, yp,
                                               shape.rows, shape.cols, tfops::gpu_stream(ctx));
      OP_REQUIRES_OK(ctx, tfops::cuda_status(kOp, err));
#endif
    }{{/cuda}}
  }
};

REGISTER_OP("{{Name}}")
    .Input("x: T")
    .Input("bias: T")
    .Output("y: T")
    .Attr("T: {float, half, bfloat16}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      DimensionHandle cols;  // x's last axis and bias's length, merged
      TF_RETURN_IF_ERROR(tfops::merge_feature_dim(c, x, {1}, &cols));
      ShapeHandle y;
      TF_RETURN_IF_ERROR(tfops::with_feature_dim(c, x, cols, &y));
      c->set_output(0, y);
      return absl::OkStatus();
    })
    .Doc("y = z * sigmoid(z) with z = x + bias over x's last axis.");

#define REGISTER_CPU(T)                                                            \
  REGISTER_KERNEL_BUILDER(Name(kOp).Device(DEVICE_CPU).TypeConstraint<T>("T"), \
                          {{Name}}Op<Eigen::ThreadPoolDevice, T>);
REGISTER_CPU(float)
REGISTER_CPU(Eigen::half)
REGISTER_CPU(::tensorflow::bfloat16)
{{#cuda}}

#if GOOGLE_CUDA
#define REGISTER_GPU(T)                                                                          \
  REGISTER_KERNEL_BUILDER(Name(kOp).Device(::tensorflow::DEVICE_GPU).TypeConstraint<T>("T"), \
                          {{Name}}Op<Eigen::GpuDevice, T>);
REGISTER_GPU(float)
REGISTER_GPU(Eigen::half)
REGISTER_GPU(::tensorflow::bfloat16)
#endif
{{/cuda}}

}  // namespace
