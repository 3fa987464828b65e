// TfforgeParseExampleBatch: a batch of serialized tf.train.Example records into dense, ragged and sparse
// tensors with tfforge's native Example decoder (cc/record, which knows nothing of TensorFlow); this file
// only converts the spec from attrs and the decoded columns into tensors. Meant for tf.data pipelines:
// TFRecordDataset(...).batch(n).map(parse) (tfforge.records.dataset builds one).
#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "record/example_decoder.h"
#include "record/framing.h"
#include "tf/example_tensors.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"

namespace tensorflow {
namespace {

using ::tfforge::record::ExampleDecoder;
using ::tfforge::record::FeatureSpec;

constexpr char kOp[] = "TfforgeParseExampleBatch";

REGISTER_OP("TfforgeParseExampleBatch")
    .Input("serialized: string")
    .Input("dense_defaults: Tdense")
    .Output("dense_values: Tdense")
    .Output("ragged_values: Tragged")
    .Output("ragged_row_splits: num_ragged * int64")
    .Output("sparse_indices: num_sparse * int64")
    .Output("sparse_values: Tsparse")
    .Output("sparse_shapes: num_sparse * int64")
    .Attr("dense_keys: list(string) >= 0")
    .Attr("dense_shapes: list(shape) >= 0")
    .Attr("ragged_keys: list(string) >= 0")
    .Attr("sparse_keys: list(string) >= 0")
    .Attr("Tdense: list({float,int64,string}) >= 0")
    .Attr("Tragged: list({float,int64,string}) >= 0")
    .Attr("Tsparse: list({float,int64,string}) >= 0")
    .Attr("num_ragged: int >= 0")
    .Attr("num_sparse: int >= 0")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle serialized;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &serialized));
      auto rows = c->Dim(serialized, 0);
      std::vector<PartialTensorShape> dense_shapes;
      TF_RETURN_IF_ERROR(c->GetAttr("dense_shapes", &dense_shapes));
      int num_ragged = 0, num_sparse = 0;
      TF_RETURN_IF_ERROR(c->GetAttr("num_ragged", &num_ragged));
      TF_RETURN_IF_ERROR(c->GetAttr("num_sparse", &num_sparse));
      int out = 0;
      for (const auto& s : dense_shapes) {
        shape_inference::ShapeHandle feature, full;
        TF_RETURN_IF_ERROR(c->MakeShapeFromPartialTensorShape(s, &feature));
        TF_RETURN_IF_ERROR(c->Concatenate(c->Vector(rows), feature, &full));
        c->set_output(out++, full);
      }
      shape_inference::DimensionHandle splits = c->UnknownDim();
      if (c->ValueKnown(rows)) splits = c->MakeDim(c->Value(rows) + 1);
      for (int i = 0; i < num_ragged; ++i) c->set_output(out++, c->Vector(c->UnknownDim()));
      for (int i = 0; i < num_ragged; ++i) c->set_output(out++, c->Vector(splits));
      for (int i = 0; i < num_sparse; ++i) c->set_output(out++, c->Matrix(c->UnknownDim(), 2));
      for (int i = 0; i < num_sparse; ++i) c->set_output(out++, c->Vector(c->UnknownDim()));
      for (int i = 0; i < num_sparse; ++i) c->set_output(out++, c->Vector(2));
      return absl::OkStatus();
    })
    .Doc("Parses a vector of serialized tf.train.Example records with tfforge's native decoder: dense "
         "features as [rows, *shape] (a missing one takes its default; an empty default makes it required), "
         "ragged ones as values + row_splits, sparse ones as (indices, values, dense_shape) like VarLenFeature.");

class ParseExampleBatchOp : public OpKernel {
 public:
  explicit ParseExampleBatchOp(OpKernelConstruction* ctx) : OpKernel(ctx) { OP_REQUIRES_OK(ctx, spec_.init(ctx, kOp)); }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& serialized = ctx->input(0);
    OP_REQUIRES(ctx, serialized.dims() == 1,
                errors::InvalidArgument(kOp, ": serialized must be a vector of records (batch them first), got shape ",
                                        serialized.shape().DebugString()));
    OpInputList defaults;
    OP_REQUIRES_OK(ctx, ctx->input_list("dense_defaults", &defaults));
    std::vector<FeatureSpec> spec;
    OP_REQUIRES_OK(ctx, spec_.with_defaults(defaults, kOp, &spec));
    ExampleDecoder dec(std::move(spec));
    const std::string where = "serialized";
    auto in = serialized.flat<tstring>();
    const int64_t rows = in.size();
    // One thread per call: tf.data's parallel map calls already decode several batches at once.
    int64_t r = 0;
    try {
      for (; r < rows; ++r)
        dec.decode(::tfforge::wire::Span{reinterpret_cast<const uint8_t*>(in(r).data()), in(r).size()},
                   ::tfforge::record::RecordContext{&where, r, 0});
    } catch (const ::tfforge::Error& e) {
      // Offsets count from the record's start (the decoder counts a file's 12-byte framing header).
      const int64_t header = int64_t(::tfforge::record::kHeaderSize);
      ctx->SetStatus(errors::InvalidArgument(kOp, ": record ", e.record, " of the batch, byte ",
                                             e.offset >= header ? e.offset - header : 0, ": ", e.what()));
      return;
    }
    std::vector<Tensor> out;
    OP_REQUIRES_OK(ctx, spec_.to_tensors(ctx->get_allocator({}), dec.columns(), rows, &out));
    for (size_t i = 0; i < out.size(); ++i) ctx->set_output(int(i), out[i]);
  }

 private:
  tfforge_examples::ExampleSpec spec_;
};

REGISTER_KERNEL_BUILDER(Name("TfforgeParseExampleBatch").Device(DEVICE_CPU), ParseExampleBatchOp);

}  // namespace
}  // namespace tensorflow
