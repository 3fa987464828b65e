// TfforgeCrc32c: CRC32C (optionally TFRecord-masked) of every string in a tensor. Useful to checksum
// serialized records inside a tf.data pipeline; it reuses the native CRC of cc/record.
#include "record/crc32c.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"

namespace tensorflow {

REGISTER_OP("TfforgeCrc32c")
    .Input("data: string")
    .Output("crc: int64")
    .Attr("masked: bool = false")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc("CRC32C of each string in `data`; with masked=true, the masked form TFRecord framing stores.");

class TfforgeCrc32cOp : public OpKernel {
 public:
  explicit TfforgeCrc32cOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("masked", &masked_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& data = ctx->input(0);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, data.shape(), &out));
    auto in = data.flat<tstring>();
    auto crc = out->flat<int64_t>();
    for (int64_t i = 0; i < in.size(); ++i) {
      uint32_t v = tfforge::crc32c::value(in(i).data(), in(i).size());
      crc(i) = masked_ ? tfforge::crc32c::mask(v) : v;
    }
  }

 private:
  bool masked_ = false;
};

REGISTER_KERNEL_BUILDER(Name("TfforgeCrc32c").Device(DEVICE_CPU), TfforgeCrc32cOp);

}  // namespace tensorflow
