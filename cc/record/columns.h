// Column batches: the in-memory shape of data on its way into (and out of) tf.train.Example protos.
// A column is one feature: its values laid out flat, and either a fixed number of values per row or
// row_splits (n + 1 offsets) for variable-length rows. A sequence column (a SequenceExample feature
// list) has two levels: row_splits over steps and step_splits over values. Columns borrow memory; the
// owner (the Python binding) keeps it alive while a batch is in use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/wire.h"

namespace tfforge::record {

// The values are the field numbers of Feature's oneof (bytes_list = 1, float_list = 2, int64_list = 3).
// kNone: a column without any values whose kind nobody knows; its rows encode as an empty Feature
// (no list set), which tf.io.parse_example accepts for every type.
enum class Kind : uint8_t { kNone = 0, kBytes = 1, kFloat = 2, kInt64 = 3 };

const char* kind_name(Kind k);

struct Column {
  std::string name;
  Kind kind = Kind::kInt64;
  const int64_t* i64 = nullptr;        // kInt64 values
  const float* f32 = nullptr;          // kFloat values
  std::vector<wire::Span> items;       // kBytes values, one span per element
  int64_t num_values = 0;              // number of values (elements) in total
  const int64_t* row_splits = nullptr;  // rows + 1 offsets into the values, or null for fixed width
  int64_t width = 1;                   // values per row when row_splits is null
  bool sequence = false;               // a feature list: row_splits index steps, step_splits values
  const int64_t* step_splits = nullptr;  // num_steps + 1 offsets into the values (sequence columns)
  int64_t num_steps = 0;

  int64_t row_begin(int64_t r) const { return row_splits ? row_splits[r] : r * width; }
  int64_t row_end(int64_t r) const { return row_splits ? row_splits[r + 1] : (r + 1) * width; }
};

struct Batch {
  std::vector<Column> columns;
  int64_t rows = 0;
};

}  // namespace tfforge::record
