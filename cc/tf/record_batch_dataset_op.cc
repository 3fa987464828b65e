// TfforgeRecordBatchDataset: TFRecord files -> a tf.data source of parsed batches, read and decoded by
// tfforge's native reader and decoder (cc/record/batch_pipeline.h: the files as one stream of records,
// batch k decoded on a worker thread while earlier batches are handed out, in file order). Replaces
// TFRecordDataset + batch + a parse op: the records are never copied into string tensors first.
// Outputs per batch, as TfforgeParseExampleBatch's (tf/example_tensors.h). Iterators cannot be saved.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "error.h"
#include "record/batch_pipeline.h"
#include "record/compression.h"
#include "record/thread_pool.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/dataset.h"
#include "tensorflow/core/framework/op.h"
#include "tf/example_tensors.h"

namespace tensorflow {
namespace data {
namespace {

using ::tfforge::record::BatchPipeline;
using ::tfforge::record::Compression;
using ::tfforge::record::FeatureSpec;

constexpr char kOp[] = "TfforgeRecordBatchDataset";

REGISTER_OP("TfforgeRecordBatchDataset")
    .Input("filenames: string")
    .Input("dense_defaults: Tdense")
    .Output("handle: variant")
    .Attr("batch_size: int >= 1")
    .Attr("drop_remainder: bool")
    .Attr("compression: {'auto', 'none', 'gzip', 'zlib'}")
    .Attr("verify: bool")
    .Attr("workers: int >= 0")
    .Attr("dense_keys: list(string) >= 0")
    .Attr("dense_shapes: list(shape) >= 0")
    .Attr("ragged_keys: list(string) >= 0")
    .Attr("sparse_keys: list(string) >= 0")
    .Attr("Tdense: list({float,int64,string}) >= 0")
    .Attr("Tragged: list({float,int64,string}) >= 0")
    .Attr("Tsparse: list({float,int64,string}) >= 0")
    .Attr("output_types: list(type) >= 1")
    .Attr("output_shapes: list(shape) >= 1")
    .SetDoNotOptimize()
    .SetShapeFn(shape_inference::ScalarShape)
    .Doc("TFRecord files of tf.train.Example records as a dataset of parsed batches, read and decoded by "
         "tfforge's native reader on `workers` threads (0: every core), in file order. Outputs as "
         "TfforgeParseExampleBatch's.");

Status tf_error(const ::tfforge::Error& e) {
  std::string where = e.path;
  if (e.record >= 0) where += ": record " + std::to_string(e.record);
  if (e.offset >= 0) where += ", byte offset " + std::to_string(e.offset);
  return errors::InvalidArgument(kOp, ": ", where, ": ", e.what());
}

class Dataset : public DatasetBase {
 public:
  Dataset(OpKernelContext* ctx, std::vector<std::string> paths, std::vector<Tensor> defaults,
          std::vector<FeatureSpec> spec, const tfforge_examples::ExampleSpec* attrs, int64_t batch_size,
          bool drop_remainder, std::string compression, bool verify, int workers, DataTypeVector dtypes,
          std::vector<PartialTensorShape> shapes)
      : DatasetBase(DatasetContext(ctx)),
        paths_(std::move(paths)),
        defaults_(std::move(defaults)),
        spec_(std::move(spec)),
        attrs_(*attrs),
        batch_size_(batch_size),
        drop_remainder_(drop_remainder),
        compression_(std::move(compression)),
        verify_(verify),
        workers_(workers),
        dtypes_(std::move(dtypes)),
        shapes_(std::move(shapes)) {}

  std::unique_ptr<IteratorBase> MakeIteratorInternal(const std::string& prefix) const override;
  const DataTypeVector& output_dtypes() const override { return dtypes_; }
  const std::vector<PartialTensorShape>& output_shapes() const override { return shapes_; }
  std::string DebugString() const override { return kOp; }
  Status InputDatasets(std::vector<const DatasetBase*>*) const override { return absl::OkStatus(); }
  Status CheckExternalState() const override { return absl::OkStatus(); }

 protected:
  Status AsGraphDefInternal(SerializationContext*, DatasetGraphDefBuilder* b, Node** output) const override {
    Node* filenames = nullptr;
    TF_RETURN_IF_ERROR(b->AddVector(paths_, &filenames));
    std::vector<Node*> defaults;
    for (const Tensor& t : defaults_) {
      defaults.emplace_back();
      TF_RETURN_IF_ERROR(b->AddTensor(t, &defaults.back()));
    }
    std::vector<std::string> dense_keys, ragged_keys, sparse_keys;
    DataTypeVector tdense, tragged, tsparse;
    for (int i = 0; i < int(attrs_.features.size()); ++i) {
      const std::string& name = attrs_.features[size_t(i)].name;
      if (i < attrs_.num_dense) dense_keys.push_back(name), tdense.push_back(attrs_.dtype(i));
      else if (i < attrs_.num_dense + attrs_.num_ragged) ragged_keys.push_back(name), tragged.push_back(attrs_.dtype(i));
      else sparse_keys.push_back(name), tsparse.push_back(attrs_.dtype(i));
    }
    std::vector<std::pair<absl::string_view, AttrValue>> attrs;
    auto attr = [&](absl::string_view name, const auto& value) {
      AttrValue v;
      b->BuildAttrValue(value, &v);
      attrs.emplace_back(name, v);
    };
    attr("batch_size", batch_size_);
    attr("drop_remainder", drop_remainder_);
    attr("compression", compression_);
    attr("verify", verify_);
    attr("workers", int64_t(workers_));
    attr("dense_keys", dense_keys);
    attr("dense_shapes", attrs_.dense_shapes);
    attr("ragged_keys", ragged_keys);
    attr("sparse_keys", sparse_keys);
    attr("Tdense", tdense);
    attr("Tragged", tragged);
    attr("Tsparse", tsparse);
    return b->AddDataset(this, {{0, filenames}}, {{1, absl::Span<Node* const>(defaults)}}, attrs, output);
  }

 private:
  class Iterator;
  friend class Iterator;
  const std::vector<std::string> paths_;
  const std::vector<Tensor> defaults_;
  const std::vector<FeatureSpec> spec_;
  const tfforge_examples::ExampleSpec attrs_;
  const int64_t batch_size_;
  const bool drop_remainder_;
  const std::string compression_;
  const bool verify_;
  const int workers_;
  const DataTypeVector dtypes_;
  const std::vector<PartialTensorShape> shapes_;
};

class Dataset::Iterator : public DatasetIterator<Dataset> {
 public:
  explicit Iterator(const Params& params) : DatasetIterator<Dataset>(params) {}

  Status GetNextInternal(IteratorContext* ctx, std::vector<Tensor>* out, bool* end_of_sequence) override {
    mutex_lock lock(mu_);
    const Dataset* d = dataset();
    *end_of_sequence = false;
    if (done_) {
      *end_of_sequence = true;
      return absl::OkStatus();
    }
    BatchPipeline::Batch batch;
    try {
      if (!pipe_) {
        std::optional<Compression> c;
        if (d->compression_ != "auto") c = ::tfforge::record::parse_compression(d->compression_);
        ::tfforge::record::ReaderOptions o;
        o.verify = d->verify_;
        const int workers = d->workers_ > 0 ? d->workers_ : ::tfforge::record::hardware_threads();
        pipe_ = std::make_unique<BatchPipeline>(d->paths_, c, o, d->spec_, true, d->batch_size_, workers);
      }
      while (!pipe_->next(&batch, 100)) {
        if (ctx->cancellation_manager() && ctx->cancellation_manager()->IsCancelled())
          return errors::Cancelled(kOp, ": cancelled");
      }
    } catch (const ::tfforge::Error& e) {
      done_ = true;
      return tf_error(e);
    }
    if (!batch.dec || (d->drop_remainder_ && batch.dec->rows() < d->batch_size_)) {
      done_ = true;
      pipe_.reset();
      *end_of_sequence = true;
      return absl::OkStatus();
    }
    Status s = d->attrs_.to_tensors(ctx->allocator({}), batch.dec->columns(), batch.dec->rows(), out);
    pipe_->recycle(std::move(batch.dec));
    return s;
  }

 protected:
  std::shared_ptr<model::Node> CreateNode(IteratorContext*, model::Node::Args args) const override {
    return model::MakeSourceNode(std::move(args));
  }
  Status SaveInternal(SerializationContext*, IteratorStateWriter*) override {
    return errors::Unimplemented(kOp, ": saving an iterator is not supported");
  }
  Status RestoreInternal(IteratorContext*, IteratorStateReader*) override {
    return errors::Unimplemented(kOp, ": restoring an iterator is not supported");
  }

 private:
  mutex mu_;
  std::unique_ptr<BatchPipeline> pipe_ TF_GUARDED_BY(mu_);
  bool done_ TF_GUARDED_BY(mu_) = false;
};

std::unique_ptr<IteratorBase> Dataset::MakeIteratorInternal(const std::string& prefix) const {
  return std::make_unique<Iterator>(Iterator::Params{this, prefix + "::TfforgeRecordBatch"});
}

class RecordBatchDatasetOp : public DatasetOpKernel {
 public:
  explicit RecordBatchDatasetOp(OpKernelConstruction* ctx) : DatasetOpKernel(ctx) {
    OP_REQUIRES_OK(ctx, attrs_.init(ctx, kOp));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("batch_size", &batch_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("drop_remainder", &drop_remainder_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("compression", &compression_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("verify", &verify_));
    int64_t workers = 0;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("workers", &workers));
    workers_ = int(std::min<int64_t>(workers, 1024));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("output_types", &dtypes_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("output_shapes", &shapes_));
    const size_t outputs = size_t(attrs_.num_dense + 2 * attrs_.num_ragged + 3 * attrs_.num_sparse);
    OP_REQUIRES(ctx, dtypes_.size() == outputs && shapes_.size() == outputs,
                errors::InvalidArgument(kOp, ": output_types and output_shapes need ", outputs, " entries"));
  }

  void MakeDataset(OpKernelContext* ctx, DatasetBase** output) override {
    const Tensor& filenames = ctx->input(0);
    OP_REQUIRES(ctx, filenames.dims() <= 1,
                errors::InvalidArgument(kOp, ": filenames must be a scalar or a vector, got shape ",
                                        filenames.shape().DebugString()));
    std::vector<std::string> paths;
    for (int64_t i = 0; i < filenames.NumElements(); ++i) paths.emplace_back(filenames.flat<tstring>()(i));
    OpInputList defaults;
    OP_REQUIRES_OK(ctx, ctx->input_list("dense_defaults", &defaults));
    std::vector<FeatureSpec> spec;
    OP_REQUIRES_OK(ctx, attrs_.with_defaults(defaults, kOp, &spec));
    std::vector<Tensor> kept(defaults.begin(), defaults.end());
    *output = new Dataset(ctx, std::move(paths), std::move(kept), std::move(spec), &attrs_, batch_size_,
                          drop_remainder_, compression_, verify_, workers_, dtypes_, shapes_);
  }

 private:
  tfforge_examples::ExampleSpec attrs_;
  int64_t batch_size_ = 1;
  bool drop_remainder_ = false;
  std::string compression_;
  bool verify_ = true;
  int workers_ = 0;
  DataTypeVector dtypes_;
  std::vector<PartialTensorShape> shapes_;
};

REGISTER_KERNEL_BUILDER(Name("TfforgeRecordBatchDataset").Device(DEVICE_CPU), RecordBatchDatasetOp);

}  // namespace
}  // namespace data
}  // namespace tensorflow
