// tf.train.Example / SequenceExample decoder into column builders, given the features wanted. Reads what
// TensorFlow and other writers produce: packed and unpacked repeated fields (even mixed), map entries
// with key and value in any order, a repeated key (the last one wins, as in protobuf and TensorFlow),
// unknown fields of Example / SequenceExample skipped. A SequenceExample's context uses the same field
// number as Example's features, so context features decode the same way; feature lists (field 2) are
// decoded for sequence features.
//
// Strict mode (the default) rejects what tf.io.parse_example rejects: a list of another kind than the
// spec's (even an empty one), a fixed-length feature present with another number of values (an empty
// list is not "missing": only an absent key or a Feature without a list takes the default), a map entry
// that does not hold exactly one key and one value (protobuf would merge two values; TensorFlow
// rejects the record), fields other than map entries inside Features / FeatureLists / FeatureList, and
// fields other than `value` inside a list. A Feature's first list decides its kind (TensorFlow reads
// only that one). Lenient mode keeps protobuf's merge semantics instead.

#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "record/columns.h"
#include "wire/wire.h"

namespace tfforge::record {

struct FeatureSpec {
  std::string name;
  Kind kind = Kind::kInt64;
  int64_t count = -1;  // values per row (per step for a feature list); -1 = variable length
  int64_t stride = 1;  // variable length: the number of values must be a multiple of this
  bool sequence = false;  // a SequenceExample feature list (one Feature per step)
  bool required = false;  // feature list: missing is an error (else it has no steps)
  // Used when a row lacks the feature (fixed-length features only); empty = the feature is required.
  std::vector<int64_t> default_i64;
  std::vector<float> default_f32;
  std::vector<std::string> default_bytes;
  bool has_default = false;
};

struct ColumnOut {
  Kind kind;
  std::vector<int64_t> i64;
  std::vector<float> f32;
  std::vector<uint8_t> bytes;                  // bytes values back to back
  std::vector<int64_t> bytes_offsets{0};       // element boundaries in `bytes`
  std::vector<int64_t> row_splits{0};         // per row: values, or steps for a feature list
  std::vector<int64_t> step_splits{0};        // feature lists: per step, values
  // Borrowed bytes (ExampleDecoder::borrow_bytes): value i starts at borrowed[i], in the records decoded
  // (or the spec's default), its size from bytes_offsets; `bytes` stays empty.
  bool borrow = false;
  std::vector<const uint8_t*> borrowed;
  size_t num_values() const {
    return kind == Kind::kInt64 ? i64.size() : kind == Kind::kFloat ? f32.size() : bytes_offsets.size() - 1;
  }
  const uint8_t* value_data(size_t i) const { return borrow ? borrowed[i] : bytes.data() + bytes_offsets[i]; }
  // Drops the values from `values` on (and any of another kind than the column's).
  void truncate(size_t values) {
    i64.resize(kind == Kind::kInt64 ? values : 0);
    f32.resize(kind == Kind::kFloat ? values : 0);
    bytes_offsets.resize(kind == Kind::kBytes ? values + 1 : 1);
    bytes.resize(borrow ? 0 : size_t(bytes_offsets.back()));
    borrowed.resize(borrow ? values : 0);
  }
};

// Where a record came from, for error messages.
struct RecordContext {
  const std::string* path;
  int64_t record;
  uint64_t offset;  // of the record's framing header
};

class ExampleDecoder {
 public:
  explicit ExampleDecoder(std::vector<FeatureSpec> spec, bool strict = true);
  // Appends one row; on error nothing is appended and tfforge::Error is thrown (CorruptRecordError for
  // malformed bytes, SpecError for data that does not fit the spec).
  void decode(wire::Span example, const RecordContext& ctx);
  int64_t rows() const { return rows_; }
  const std::vector<FeatureSpec>& spec() const { return spec_; }
  bool strict() const { return strict_; }
  // Bytes values are not copied: the columns point into the records decoded, which the caller keeps
  // alive and unchanged until the columns are taken. Starts a new batch (rows decoded so far are dropped).
  void borrow_bytes(bool on);
  std::vector<ColumnOut>& columns() { return out_; }
  // Starts a new batch (after the columns were taken); with remember_sizes() called before taking
  // them, capacity for a batch of the same size is reserved up front.
  void remember_sizes();
  void reset();
  // Moves other's rows (decoded with the same spec) behind this decoder's and resets other
  // (example_decoder_append.cc; used by parallel decoding).
  void append_rows(ExampleDecoder& other);
  // Per column: values, bytes of bytes values, row splits held now; reserve() makes room for as much,
  // so a new decoder fills a batch like an earlier one's without growing through reallocations.
  struct ColumnSizes { size_t values, bytes, splits; };
  std::vector<ColumnSizes> sizes() const;
  void reserve(const std::vector<ColumnSizes>& sizes);

 private:
  struct Mark { size_t values, rows, steps; };
  int find(const uint8_t* key, size_t n, bool sequence) const;
  // Appends the values of one Feature message; returns the kind of its list (kNone: no list set).
  Kind append(size_t k, wire::Span feature, uint64_t base, const RecordContext& ctx, int64_t step);
  void decode_feature(size_t k, const RecordContext& ctx);
  void decode_list(size_t k, const RecordContext& ctx);
  void fill_default(size_t k);
  std::vector<FeatureSpec> spec_;
  bool strict_;
  bool has_lists_ = false;
  std::unordered_map<std::string, int> index_[2];  // context features, feature lists
  std::vector<ColumnOut> out_;
  std::vector<wire::Span> found_;       // per feature, this row's Feature / FeatureList message (last wins)
  std::vector<uint64_t> found_offset_;  // its offset inside the record
  std::vector<uint8_t> present_;
  std::vector<Mark> marks_;
  std::vector<std::pair<size_t, size_t>> last_sizes_;  // (values, row_splits) per column
  int64_t rows_ = 0;
};

// What one record holds, for inferring a spec and for printing: each feature's kind and value count.
struct FeatureSeen {
  std::string name;
  Kind kind;
  bool kind_known;  // false for a Feature with no list set
  int64_t count;
};
std::vector<FeatureSeen> scan_example(wire::Span example, const RecordContext& ctx, bool strict = false);

// A feature key for messages: as it is when it is valid UTF-8, else with \xNN escapes.
std::string printable_key(wire::Span key);

// Every value of one record, for pretty printing (head / inspect).
struct FeatureValues {
  std::string name;
  Kind kind;
  bool kind_known;
  std::vector<int64_t> i64;
  std::vector<float> f32;
  std::vector<std::string> bytes;
};
std::vector<FeatureValues> parse_example(wire::Span example, const RecordContext& ctx);

}  // namespace tfforge::record
