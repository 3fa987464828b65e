// tf.train.Example encoder over column batches. Sizes are computed first (nested messages are length
// prefixed), then bytes are written straight into the caller's buffer: no intermediate messages.
//
//   Example  { Features features = 1; }
//   Features { map<string, Feature> feature = 1; }   // entries: { string key = 1; Feature value = 2; }
//   Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
//   *List    { repeated ... value = 1; }              // numbers packed, as TensorFlow writes them
//
// With sequence columns the record is a SequenceExample, whose context has Example's layout:
//   SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
//   FeatureLists    { map<string, FeatureList> feature_list = 1; }
//   FeatureList     { repeated Feature feature = 1; }     // one Feature per step
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "record/columns.h"

namespace tfforge::record {

class ExampleEncoder {
 public:
  // Checks the batch (row_splits monotone and in range, value counts) and throws
  // tfforge::Error("SpecError") naming the column when it is inconsistent.
  explicit ExampleEncoder(const Batch& batch);

  // Size of row r's Features message (the context of a SequenceExample); the whole record is
  // record_size(r, features) bytes.
  size_t features_size(int64_t r) const;
  size_t record_size(int64_t r, size_t features) const {
    return 1 + wire::varint_size(features) + features + (has_lists_ ? lists_field_size(r) : 0);
  }
  // Writes row r's Example or SequenceExample (features_size(r) given) at out; returns the end.
  uint8_t* encode(int64_t r, size_t features, uint8_t* out) const;
  // TFRecord header + Example + footer; returns the end.
  uint8_t* encode_framed(int64_t r, size_t features, uint8_t* out) const;

  const Batch& batch() const { return batch_; }

 private:
  size_t list_size(const Column& c, int64_t b, int64_t e) const;
  size_t feature_list_size(const Column& c, int64_t r) const;
  size_t lists_size(int64_t r) const;
  size_t lists_field_size(int64_t r) const {
    size_t n = lists_size(r);
    return 1 + wire::varint_size(n) + n;
  }
  uint8_t* put_feature(const Column& c, int64_t b, int64_t e, size_t list, uint8_t* out) const;
  const Batch& batch_;
  bool has_lists_ = false;
  std::vector<std::string> key_prefix_;  // per column: entry key field bytes (tag, length, name)
};

}  // namespace tfforge::record
