// ExampleDecoder::append_rows: moving one decoder's rows behind another's (parallel decoding); sizes() and
// reserve(): sizing a new decoder like one that has decoded a batch.
#include <algorithm>

#include "record/example_decoder.h"

namespace tfforge::record {

void ExampleDecoder::append_rows(ExampleDecoder& other) {
  for (size_t k = 0; k < out_.size(); ++k) {
    ColumnOut& c = out_[k];
    ColumnOut& o = other.out_[k];
    const int64_t value_base = int64_t(c.num_values());
    const int64_t byte_base = c.bytes_offsets.back();
    c.i64.insert(c.i64.end(), o.i64.begin(), o.i64.end());
    c.f32.insert(c.f32.end(), o.f32.begin(), o.f32.end());
    c.bytes.insert(c.bytes.end(), o.bytes.begin(), o.bytes.end());
    c.borrowed.insert(c.borrowed.end(), o.borrowed.begin(), o.borrowed.end());
    c.bytes_offsets.reserve(c.bytes_offsets.size() + o.bytes_offsets.size() - 1);
    for (size_t i = 1; i < o.bytes_offsets.size(); ++i) c.bytes_offsets.push_back(o.bytes_offsets[i] + byte_base);
    // A feature list's rows count steps and its steps count values; other rows count values.
    const int64_t step_base = int64_t(c.step_splits.size()) - 1;
    for (size_t i = 1; i < o.step_splits.size(); ++i) c.step_splits.push_back(o.step_splits[i] + value_base);
    const int64_t row_base = spec_[k].sequence ? step_base : value_base;
    c.row_splits.reserve(c.row_splits.size() + o.row_splits.size() - 1);
    for (size_t i = 1; i < o.row_splits.size(); ++i) c.row_splits.push_back(o.row_splits[i] + row_base);
  }
  rows_ += other.rows_;
  other.reset();
}

std::vector<ExampleDecoder::ColumnSizes> ExampleDecoder::sizes() const {
  std::vector<ColumnSizes> out;
  for (const ColumnOut& c : out_) out.push_back({c.num_values(), c.bytes.size(), c.row_splits.size()});
  return out;
}

void ExampleDecoder::reserve(const std::vector<ColumnSizes>& sizes) {
  for (size_t k = 0; k < out_.size() && k < sizes.size(); ++k) {
    ColumnOut& c = out_[k];
    if (c.kind == Kind::kInt64) c.i64.reserve(sizes[k].values);
    if (c.kind == Kind::kFloat) c.f32.reserve(sizes[k].values);
    if (c.kind == Kind::kBytes) {
      if (!c.borrow) c.bytes.reserve(sizes[k].bytes);
      if (c.borrow) c.borrowed.reserve(sizes[k].values);
      c.bytes_offsets.reserve(sizes[k].values + 1);
    }
    c.row_splits.reserve(sizes[k].splits);
  }
}

}  // namespace tfforge::record
