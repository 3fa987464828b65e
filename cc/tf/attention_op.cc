// TfforgeAttention: the attention core of Keras' MultiHeadAttention (scores, masked softmax, context)
// over [batch, length, heads, head_dim] inputs (see kernels/attention.h). The gradient is registered in
// Python (tfforge/ops/fused.py) as TensorFlow ops recomputing the softmax.
#include "kernels/attention.h"
#include "tf/op_util.h"
#include "tensorflow/core/framework/op.h"

namespace tensorflow {
namespace tfforge_ops {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

REGISTER_OP("TfforgeAttention")
    .Input("query: T")
    .Input("key: T")
    .Input("value: T")
    .Input("mask: n_mask * bool")
    .Output("y: T")
    .Attr("T: {float}")
    .Attr("n_mask: int >= 0 = 0")
    .Attr("mask_fill: float = -1e9")
    .Attr("zero_masked: bool = true")
    .Attr("scale: float = 1.0")
    .SetShapeFn([](InferenceContext* c) {
      int64_t n_mask = 0;
      TF_RETURN_IF_ERROR(c->GetAttr("n_mask", &n_mask));
      if (n_mask > 1) return errors::InvalidArgument("TfforgeAttention: at most one mask, got ", n_mask);
      ShapeHandle q, k, v, kv;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &q));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 4, &k));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 4, &v));
      TF_RETURN_IF_ERROR(c->Merge(k, v, &kv));
      DimensionHandle d;
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(q, 0), c->Dim(kv, 0), &d));
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(q, 2), c->Dim(kv, 2), &d));
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(q, 3), c->Dim(kv, 3), &d));
      if (n_mask == 1) {
        ShapeHandle m;
        TF_RETURN_IF_ERROR(c->WithRankAtMost(c->input(3), 4, &m));
      }
      c->set_output(0, q);
      return absl::OkStatus();
    })
    .Doc(R"doc(
Attention core over [batch, length, heads, head_dim]: for each batch entry and head,
softmax(scale * query key^T) value. With a mask (bool, rank <= 4, right-aligned, each axis 1 or
the size of [batch, heads, query length, key length]) the scores where it is false are set to
mask_fill before the softmax and, with zero_masked, the probabilities there to 0 after it, as Keras'
Softmax layer does (a fully masked row gives zeros; without zero_masked the mean of the values). Output: [batch, query length, heads, head_dim].
)doc");

class AttentionOp : public OpKernel {
 public:
  explicit AttentionOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("mask_fill", &mask_fill_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("zero_masked", &zero_masked_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("scale", &scale_));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = "TfforgeAttention";
    const Tensor &q = ctx->input(0), &k = ctx->input(1), &v = ctx->input(2);
    OP_REQUIRES(ctx, q.dims() == 4 && k.dims() == 4,
                errors::InvalidArgument(op, ": query and key must have rank 4 [batch, length, heads, head_dim], got ",
                                        q.shape().DebugString(), " and ", k.shape().DebugString()));
    OP_REQUIRES_OK(ctx, check_same_shape(op, "key", k, "value", v));
    OP_REQUIRES(ctx, q.dim_size(0) == k.dim_size(0) && q.dim_size(2) == k.dim_size(2) && q.dim_size(3) == k.dim_size(3),
                errors::InvalidArgument(op, ": query ", q.shape().DebugString(), " and key ", k.shape().DebugString(),
                                        " differ in batch, heads or head_dim"));
    ::tfforge::kernels::AttentionShape s;
    s.batch = q.dim_size(0);
    s.q_len = q.dim_size(1);
    s.kv_len = k.dim_size(1);
    s.heads = q.dim_size(2);
    s.head_dim = q.dim_size(3);
    ::tfforge::kernels::AttentionMask mask;
    if (ctx->num_inputs() > 3) {  // broadcast as SelectV2 would: right-aligned, each axis 1 or full
      const Tensor& m = ctx->input(3);
      const int64_t full[4] = {s.batch, s.heads, s.q_len, s.kv_len};
      const int lead = 4 - m.dims();
      bool ok = m.dims() <= 4;
      for (int i = 0; ok && i < m.dims(); ++i) ok = m.dim_size(i) == 1 || m.dim_size(i) == full[lead + i];
      OP_REQUIRES(ctx, ok,
                  errors::InvalidArgument(op, ": mask must broadcast to [batch, heads, query length, key length] = [",
                                          s.batch, ", ", s.heads, ", ", s.q_len, ", ", s.kv_len,
                                          "] with each axis 1 or full size, got ", m.shape().DebugString()));
      mask.data = m.flat<bool>().data();
      int64_t stride = 1;
      for (int i = m.dims() - 1; i >= 0; --i) {
        mask.stride[lead + i] = m.dim_size(i) == 1 ? 0 : stride;
        stride *= m.dim_size(i);
      }
    }
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, q.shape(), &y));
    ::tfforge::kernels::attention_forward_cpu(s, q.flat<float>().data(), k.flat<float>().data(),
                                              v.flat<float>().data(), mask, mask_fill_, zero_masked_, scale_, y->flat<float>().data(),
                                              cpu_parallel(ctx));
  }

 private:
  float mask_fill_ = -1e9f;
  bool zero_masked_ = true;
  float scale_ = 1.f;
};

REGISTER_KERNEL_BUILDER(Name("TfforgeAttention").Device(DEVICE_CPU).TypeConstraint<float>("T"), AttentionOp);

}  // namespace tfforge_ops
}  // namespace tensorflow
