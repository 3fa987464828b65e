// TfforgeParseExampleBatch: a batch of serialized tf.train.Example records into dense, ragged and sparse
// tensors with tfforge's native Example decoder (cc/record, which knows nothing of TensorFlow); this file
// only converts the spec from attrs and the decoded columns into tensors. Meant for tf.data pipelines:
// TFRecordDataset(...).batch(n).map(parse) (tfforge.records.dataset builds one).
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "error.h"
#include "record/example_decoder.h"
#include "record/framing.h"
#include "record/parallel_decode.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"

namespace tensorflow {
namespace {

using ::tfforge::record::ColumnOut;
using ::tfforge::record::ExampleDecoder;
using ::tfforge::record::FeatureSpec;
using ::tfforge::record::Kind;

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

Kind kind_of(DataType t) { return t == DT_INT64 ? Kind::kInt64 : t == DT_FLOAT ? Kind::kFloat : Kind::kBytes; }

// Copies values [begin, end) of a column into `out` (a flat view of the right dtype).
Status copy_values(const ColumnOut& c, size_t begin, size_t end, Tensor* out) {
  if (c.kind == Kind::kInt64) {
    std::memcpy(out->flat<int64_t>().data(), c.i64.data() + begin, (end - begin) * sizeof(int64_t));
  } else if (c.kind == Kind::kFloat) {
    std::memcpy(out->flat<float>().data(), c.f32.data() + begin, (end - begin) * sizeof(float));
  } else {
    auto flat = out->flat<tstring>();
    const char* base = reinterpret_cast<const char*>(c.bytes.data());
    for (size_t i = begin; i < end; ++i)
      flat(int64_t(i - begin)).assign(base + c.bytes_offsets[i], size_t(c.bytes_offsets[i + 1] - c.bytes_offsets[i]));
  }
  return absl::OkStatus();
}

class ParseExampleBatchOp : public OpKernel {
 public:
  explicit ParseExampleBatchOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::vector<std::string> dense_keys, ragged_keys, sparse_keys;
    std::vector<DataType> tdense, tragged, tsparse;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("dense_keys", &dense_keys));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("dense_shapes", &dense_shapes_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("ragged_keys", &ragged_keys));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("sparse_keys", &sparse_keys));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("Tdense", &tdense));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("Tragged", &tragged));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("Tsparse", &tsparse));
    OP_REQUIRES(ctx, dense_keys.size() == tdense.size() && dense_keys.size() == dense_shapes_.size(),
                errors::InvalidArgument(kOp, ": dense_keys, dense_shapes and Tdense must have the same length"));
    OP_REQUIRES(ctx, ragged_keys.size() == tragged.size(),
                errors::InvalidArgument(kOp, ": ragged_keys and Tragged must have the same length"));
    OP_REQUIRES(ctx, sparse_keys.size() == tsparse.size(),
                errors::InvalidArgument(kOp, ": sparse_keys and Tsparse must have the same length"));
    num_dense_ = int(dense_keys.size());
    num_ragged_ = int(ragged_keys.size());
    std::unordered_set<std::string> seen;
    auto add = [&](const std::string& key, DataType t, int64_t count) {
      OP_REQUIRES(ctx, seen.insert(key).second, errors::InvalidArgument(kOp, ": feature '", key, "' is listed twice"));
      FeatureSpec f;
      f.name = key;
      f.kind = kind_of(t);
      f.count = count;
      spec_.push_back(std::move(f));
    };
    for (int i = 0; i < num_dense_; ++i) {
      OP_REQUIRES(ctx, dense_shapes_[i].IsFullyDefined(),
                  errors::InvalidArgument(kOp, ": dense feature '", dense_keys[i], "' needs a fully defined shape, got ",
                                          dense_shapes_[i].DebugString()));
      add(dense_keys[i], tdense[i], dense_shapes_[i].num_elements());
    }
    for (size_t i = 0; i < ragged_keys.size(); ++i) add(ragged_keys[i], tragged[i], -1);
    for (size_t i = 0; i < sparse_keys.size(); ++i) add(sparse_keys[i], tsparse[i], -1);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& serialized = ctx->input(0);
    OP_REQUIRES(ctx, serialized.dims() == 1,
                errors::InvalidArgument(kOp, ": serialized must be a vector of records (batch them first), got shape ",
                                        serialized.shape().DebugString()));
    OpInputList defaults;
    OP_REQUIRES_OK(ctx, ctx->input_list("dense_defaults", &defaults));
    std::vector<FeatureSpec> spec = spec_;
    for (int i = 0; i < num_dense_; ++i) {
      const Tensor& d = defaults[i];
      if (d.NumElements() == 0) continue;  // required
      OP_REQUIRES(ctx, d.NumElements() == spec[i].count,
                  errors::InvalidArgument(kOp, ": default of feature '", spec[i].name, "' has ", d.NumElements(),
                                          " values, its shape needs ", spec[i].count));
      FeatureSpec& f = spec[i];
      f.has_default = true;
      if (f.kind == Kind::kInt64) f.default_i64.assign(d.flat<int64_t>().data(), d.flat<int64_t>().data() + d.NumElements());
      else if (f.kind == Kind::kFloat) f.default_f32.assign(d.flat<float>().data(), d.flat<float>().data() + d.NumElements());
      else for (int64_t k = 0; k < d.NumElements(); ++k) f.default_bytes.emplace_back(d.flat<tstring>()(k));
    }
    ExampleDecoder dec(std::move(spec));
    const std::string where = "serialized";
    auto in = serialized.flat<tstring>();
    const int64_t rows = in.size();
    ::tfforge::record::RecordList list;
    list.records.reserve(size_t(rows));
    for (int64_t r = 0; r < rows; ++r)
      list.records.push_back(::tfforge::wire::Span{reinterpret_cast<const uint8_t*>(in(r).data()), in(r).size()});
    list.index.resize(size_t(rows));
    for (int64_t r = 0; r < rows; ++r) list.index[size_t(r)] = r;
    list.offset.assign(size_t(rows), 0);
    try {
      // One thread per call: tf.data's parallel map calls already decode several batches at once, and
      // threads started inside each call only wait for cores those calls hold.
      ::tfforge::record::decode_parallel(dec, list, where, 1, false, nullptr);
    } catch (const ::tfforge::Error& e) {
      // Offsets count from the record's start (the decoder counts a file's 12-byte framing header).
      const int64_t header = int64_t(::tfforge::record::kHeaderSize);
      ctx->SetStatus(errors::InvalidArgument(kOp, ": record ", e.record, " of the batch, byte ",
                                             e.offset >= header ? e.offset - header : 0, ": ", e.what()));
      return;
    }
    auto& cols = dec.columns();
    int out = 0;
    for (int i = 0; i < num_dense_; ++i) {
      TensorShape shape({rows});
      shape.AppendShape(TensorShape(dense_shapes_[i].dim_sizes()));
      Tensor* t = nullptr;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(out++, shape, &t));
      OP_REQUIRES_OK(ctx, copy_values(cols[i], 0, cols[i].num_values(), t));
    }
    const int num_varlen = int(cols.size()) - num_dense_;
    const int num_sparse = num_varlen - num_ragged_;
    for (int i = 0; i < num_ragged_; ++i) {
      const ColumnOut& c = cols[num_dense_ + i];
      Tensor* values = nullptr;
      Tensor* splits = nullptr;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(out + i, TensorShape({int64_t(c.num_values())}), &values));
      OP_REQUIRES_OK(ctx, copy_values(c, 0, c.num_values(), values));
      OP_REQUIRES_OK(ctx, ctx->allocate_output(out + num_ragged_ + i, TensorShape({rows + 1}), &splits));
      std::memcpy(splits->flat<int64_t>().data(), c.row_splits.data(), (rows + 1) * sizeof(int64_t));
    }
    out += 2 * num_ragged_;
    for (int i = 0; i < num_sparse; ++i) {
      const ColumnOut& c = cols[num_dense_ + num_ragged_ + i];
      const int64_t nnz = int64_t(c.num_values());
      Tensor *indices = nullptr, *values = nullptr, *shape = nullptr;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(out + i, TensorShape({nnz, 2}), &indices));
      OP_REQUIRES_OK(ctx, ctx->allocate_output(out + num_sparse + i, TensorShape({nnz}), &values));
      OP_REQUIRES_OK(ctx, ctx->allocate_output(out + 2 * num_sparse + i, TensorShape({2}), &shape));
      OP_REQUIRES_OK(ctx, copy_values(c, 0, size_t(nnz), values));
      auto idx = indices->matrix<int64_t>();
      int64_t widest = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = c.row_splits[r], e = c.row_splits[r + 1];
        widest = std::max(widest, e - b);
        for (int64_t k = b; k < e; ++k) {
          idx(k, 0) = r;
          idx(k, 1) = k - b;
        }
      }
      shape->flat<int64_t>()(0) = rows;
      shape->flat<int64_t>()(1) = widest;
    }
  }

 private:
  std::vector<FeatureSpec> spec_;  // dense, then ragged, then sparse features
  std::vector<PartialTensorShape> dense_shapes_;
  int num_dense_ = 0, num_ragged_ = 0;
};

REGISTER_KERNEL_BUILDER(Name("TfforgeParseExampleBatch").Device(DEVICE_CPU), ParseExampleBatchOp);

}  // namespace
}  // namespace tensorflow
