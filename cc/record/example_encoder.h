// tf.train.Example encoder over column batches. Sizes are computed first (nested messages are length
// prefixed), then bytes are written straight into the caller's buffer: no intermediate messages.
//
//   Example  { Features features = 1; }
//   Features { map<string, Feature> feature = 1; }   // entries: { string key = 1; Feature value = 2; }
//   Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
//   *List    { repeated ... value = 1; }              // numbers packed, as TensorFlow writes them
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

  // Size of row r's Features message; the Example around it is example_size(features) bytes.
  size_t features_size(int64_t r) const;
  static size_t example_size(size_t features) { return 1 + wire::varint_size(features) + features; }
  // Writes row r's Example (features_size(r) given) at out; returns the end.
  uint8_t* encode(int64_t r, size_t features, uint8_t* out) const;
  // TFRecord header + Example + footer; returns the end.
  uint8_t* encode_framed(int64_t r, size_t features, uint8_t* out) const;

  const Batch& batch() const { return batch_; }

 private:
  size_t list_size(const Column& c, int64_t r) const;
  const Batch& batch_;
  std::vector<std::string> key_prefix_;  // per column: entry key field bytes (tag, length, name)
};

}  // namespace tfforge::record
