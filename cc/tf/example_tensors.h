// Shared by the ops that decode Examples with tfforge's native decoder (TfforgeParseExampleBatch,
// TfforgeRecordBatchDataset): the feature spec from their common attrs and dense defaults, and decoded
// columns turned into output tensors in one order: dense values, ragged values, ragged row splits,
// sparse indices, sparse values, sparse dense shapes.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "record/example_decoder.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"

namespace tensorflow {
namespace tfforge_examples {

using ::tfforge::record::ColumnOut;
using ::tfforge::record::FeatureSpec;
using ::tfforge::record::Kind;

inline Kind kind_of(DataType t) { return t == DT_INT64 ? Kind::kInt64 : t == DT_FLOAT ? Kind::kFloat : Kind::kBytes; }

// The attrs both ops declare (see parse_example_batch_op.cc's REGISTER_OP).
struct ExampleSpec {
  std::vector<FeatureSpec> features;  // dense, then ragged, then sparse
  std::vector<PartialTensorShape> dense_shapes;
  int num_dense = 0, num_ragged = 0, num_sparse = 0;

  Status init(OpKernelConstruction* ctx, const char* op) {
    std::vector<std::string> dense_keys, ragged_keys, sparse_keys;
    std::vector<DataType> tdense, tragged, tsparse;
    TF_RETURN_IF_ERROR(ctx->GetAttr("dense_keys", &dense_keys));
    TF_RETURN_IF_ERROR(ctx->GetAttr("dense_shapes", &dense_shapes));
    TF_RETURN_IF_ERROR(ctx->GetAttr("ragged_keys", &ragged_keys));
    TF_RETURN_IF_ERROR(ctx->GetAttr("sparse_keys", &sparse_keys));
    TF_RETURN_IF_ERROR(ctx->GetAttr("Tdense", &tdense));
    TF_RETURN_IF_ERROR(ctx->GetAttr("Tragged", &tragged));
    TF_RETURN_IF_ERROR(ctx->GetAttr("Tsparse", &tsparse));
    if (dense_keys.size() != tdense.size() || dense_keys.size() != dense_shapes.size())
      return errors::InvalidArgument(op, ": dense_keys, dense_shapes and Tdense must have the same length");
    if (ragged_keys.size() != tragged.size())
      return errors::InvalidArgument(op, ": ragged_keys and Tragged must have the same length");
    if (sparse_keys.size() != tsparse.size())
      return errors::InvalidArgument(op, ": sparse_keys and Tsparse must have the same length");
    num_dense = int(dense_keys.size());
    num_ragged = int(ragged_keys.size());
    num_sparse = int(sparse_keys.size());
    std::unordered_set<std::string> seen;
    auto add = [&](const std::string& key, DataType t, int64_t count) -> Status {
      if (!seen.insert(key).second) return errors::InvalidArgument(op, ": feature '", key, "' is listed twice");
      FeatureSpec f;
      f.name = key;
      f.kind = kind_of(t);
      f.count = count;
      features.push_back(std::move(f));
      return absl::OkStatus();
    };
    for (int i = 0; i < num_dense; ++i) {
      if (!dense_shapes[i].IsFullyDefined())
        return errors::InvalidArgument(op, ": dense feature '", dense_keys[i], "' needs a fully defined shape, got ",
                                       dense_shapes[i].DebugString());
      TF_RETURN_IF_ERROR(add(dense_keys[i], tdense[i], dense_shapes[i].num_elements()));
    }
    for (int i = 0; i < num_ragged; ++i) TF_RETURN_IF_ERROR(add(ragged_keys[i], tragged[i], -1));
    for (int i = 0; i < num_sparse; ++i) TF_RETURN_IF_ERROR(add(sparse_keys[i], tsparse[i], -1));
    return absl::OkStatus();
  }

  // The features with the dense defaults given (an empty default: the feature is required).
  Status with_defaults(const OpInputList& defaults, const char* op, std::vector<FeatureSpec>* out) const {
    *out = features;
    for (int i = 0; i < num_dense; ++i) {
      const Tensor& d = defaults[i];
      if (d.NumElements() == 0) continue;
      FeatureSpec& f = (*out)[i];
      if (d.NumElements() != f.count)
        return errors::InvalidArgument(op, ": default of feature '", f.name, "' has ", d.NumElements(),
                                       " values, its shape needs ", f.count);
      f.has_default = true;
      if (f.kind == Kind::kInt64) f.default_i64.assign(d.flat<int64_t>().data(), d.flat<int64_t>().data() + d.NumElements());
      else if (f.kind == Kind::kFloat) f.default_f32.assign(d.flat<float>().data(), d.flat<float>().data() + d.NumElements());
      else for (int64_t k = 0; k < d.NumElements(); ++k) f.default_bytes.emplace_back(d.flat<tstring>()(k));
    }
    return absl::OkStatus();
  }

  DataType dtype(int k) const {
    Kind kind = features[size_t(k)].kind;
    return kind == Kind::kInt64 ? DT_INT64 : kind == Kind::kFloat ? DT_FLOAT : DT_STRING;
  }

  // Decoded columns (one per feature, in `features` order) of `rows` rows -> the output tensors.
  Status to_tensors(Allocator* a, const std::vector<ColumnOut>& cols, int64_t rows, std::vector<Tensor>* out) const {
    out->clear();
    out->reserve(size_t(num_dense + 2 * num_ragged + 3 * num_sparse));
    for (int i = 0; i < num_dense; ++i) {
      TensorShape shape({rows});
      shape.AppendShape(TensorShape(dense_shapes[i].dim_sizes()));
      out->emplace_back(a, dtype(i), shape);
      copy_values(cols[size_t(i)], &out->back());
    }
    for (int i = num_dense; i < num_dense + num_ragged; ++i) {
      out->emplace_back(a, dtype(i), TensorShape({int64_t(cols[size_t(i)].num_values())}));
      copy_values(cols[size_t(i)], &out->back());
    }
    for (int i = num_dense; i < num_dense + num_ragged; ++i) {
      out->emplace_back(a, DT_INT64, TensorShape({rows + 1}));
      std::memcpy(out->back().flat<int64_t>().data(), cols[size_t(i)].row_splits.data(), size_t(rows + 1) * sizeof(int64_t));
    }
    const int first = num_dense + num_ragged;
    std::vector<Tensor> values, shapes;
    for (int i = first; i < first + num_sparse; ++i) {
      const ColumnOut& c = cols[size_t(i)];
      const int64_t nnz = int64_t(c.num_values());
      out->emplace_back(a, DT_INT64, TensorShape({nnz, 2}));
      auto idx = out->back().matrix<int64_t>();
      int64_t widest = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = c.row_splits[size_t(r)], e = c.row_splits[size_t(r) + 1];
        widest = std::max(widest, e - b);
        for (int64_t k = b; k < e; ++k) {
          idx(k, 0) = r;
          idx(k, 1) = k - b;
        }
      }
      values.emplace_back(a, dtype(i), TensorShape({nnz}));
      copy_values(c, &values.back());
      shapes.emplace_back(a, DT_INT64, TensorShape({2}));
      shapes.back().flat<int64_t>()(0) = rows;
      shapes.back().flat<int64_t>()(1) = widest;
    }
    for (auto& t : values) out->push_back(std::move(t));
    for (auto& t : shapes) out->push_back(std::move(t));
    return absl::OkStatus();
  }

  // Copies a column's values into `out` (of the column's dtype and size).
  static void copy_values(const ColumnOut& c, Tensor* out) {
    const size_t n = c.num_values();
    if (c.kind == Kind::kInt64) {
      if (n) std::memcpy(out->flat<int64_t>().data(), c.i64.data(), n * sizeof(int64_t));
    } else if (c.kind == Kind::kFloat) {
      if (n) std::memcpy(out->flat<float>().data(), c.f32.data(), n * sizeof(float));
    } else {
      auto flat = out->flat<tstring>();
      const char* base = reinterpret_cast<const char*>(c.bytes.data());
      for (size_t i = 0; i < n; ++i)
        flat(int64_t(i)).assign(base + c.bytes_offsets[i], size_t(c.bytes_offsets[i + 1] - c.bytes_offsets[i]));
    }
  }
};

}  // namespace tfforge_examples
}  // namespace tensorflow
