#include "record/example_encoder.h"

#include <cstring>

#include "error.h"
#include "record/framing.h"

namespace tfforge::record {
namespace {

using wire::put_varint;
using wire::varint_size;

constexpr uint8_t kTagField1Bytes = 0x0a;  // field 1, length-delimited
constexpr uint8_t kTagField2Bytes = 0x12;  // field 2, length-delimited

// varint_size without its loop: ceil(significant bits / 7), at least 1 (int64 lists are sized per row
// several times, so this is the encoder's hottest loop for integer features).
inline size_t value_varint_size(uint64_t v) { return (size_t(63 - __builtin_clzll(v | 1)) * 9 + 73) / 64; }

inline size_t int64_payload(const int64_t* v, int64_t n) {
  size_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += value_varint_size(uint64_t(v[i]));
  return s;
}

// Size of the Feature message around a list message of `list` bytes (kNone: an empty Feature).
inline size_t feature_size(Kind kind, size_t list) { return kind == Kind::kNone ? 0 : 1 + varint_size(list) + list; }

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "none";
    case Kind::kBytes: return "bytes";
    case Kind::kFloat: return "float";
    case Kind::kInt64: return "int64";
  }
  return "?";
}

ExampleEncoder::ExampleEncoder(const Batch& batch) : batch_(batch) {
  for (const Column& c : batch.columns) {
    auto bad = [&](const std::string& what) {
      return Error("SpecError", "column '" + c.name + "': " + what);
    };
    int64_t nvalues = c.num_values;
    if (c.kind == Kind::kBytes && nvalues != int64_t(c.items.size())) throw bad("value count mismatch");
    if (c.kind == Kind::kInt64 && nvalues > 0 && !c.i64) throw bad("no int64 values");
    if (c.kind == Kind::kFloat && nvalues > 0 && !c.f32) throw bad("no float values");
    if (c.kind == Kind::kNone && nvalues > 0) throw bad("values of kind none");
    if (c.row_splits) {
      // A sequence column's row_splits index its steps, whose step_splits index the values.
      int64_t items = c.sequence ? c.num_steps : nvalues;
      if (c.row_splits[0] != 0) throw bad("row_splits must start at 0");
      for (int64_t r = 0; r < batch.rows; ++r)
        if (c.row_splits[r + 1] < c.row_splits[r])
          throw bad("row_splits decrease at row " + std::to_string(r));
      if (c.row_splits[batch.rows] != items)
        throw bad("row_splits end at " + std::to_string(c.row_splits[batch.rows]) + " but there are " +
                  std::to_string(items) + (c.sequence ? " steps" : " values"));
    } else if (c.sequence) {
      throw bad("a sequence column needs row_splits");
    } else {
      if (c.width < 0) throw bad("negative width");
      if (nvalues != batch.rows * c.width)
        throw bad(std::to_string(nvalues) + " values for " + std::to_string(batch.rows) + " rows of " +
                  std::to_string(c.width));
    }
    if (c.sequence) {
      if (!c.step_splits || c.step_splits[0] != 0) throw bad("step_splits must be given and start at 0");
      for (int64_t s = 0; s < c.num_steps; ++s)
        if (c.step_splits[s + 1] < c.step_splits[s]) throw bad("step_splits decrease at step " + std::to_string(s));
      if (c.step_splits[c.num_steps] != nvalues)
        throw bad("step_splits end at " + std::to_string(c.step_splits[c.num_steps]) + " but there are " +
                  std::to_string(nvalues) + " values");
      has_lists_ = true;
    }
    std::string prefix;
    uint8_t tmp[10];
    prefix.push_back(char(kTagField1Bytes));
    prefix.append(reinterpret_cast<char*>(tmp), put_varint(tmp, c.name.size()) - tmp);
    prefix.append(c.name);
    key_prefix_.push_back(std::move(prefix));
  }
}

size_t ExampleEncoder::list_size(const Column& c, int64_t b, int64_t e) const {
  int64_t n = e - b;
  if (n == 0) return 0;
  switch (c.kind) {
    case Kind::kFloat: {
      size_t payload = size_t(n) * 4;
      return 1 + varint_size(payload) + payload;
    }
    case Kind::kInt64: {
      size_t payload = int64_payload(c.i64 + b, n);
      return 1 + varint_size(payload) + payload;
    }
    case Kind::kBytes: {
      size_t s = 0;
      for (int64_t i = b; i < e; ++i) s += 1 + varint_size(c.items[i].size) + c.items[i].size;
      return s;
    }
    case Kind::kNone:
      return 0;
  }
  return 0;
}

size_t ExampleEncoder::features_size(int64_t r) const {
  size_t features = 0;
  for (size_t k = 0; k < batch_.columns.size(); ++k) {
    const Column& c = batch_.columns[k];
    if (c.sequence) continue;
    size_t feat = feature_size(c.kind, list_size(c, c.row_begin(r), c.row_end(r)));
    size_t entry = key_prefix_[k].size() + 1 + varint_size(feat) + feat;
    features += 1 + varint_size(entry) + entry;
  }
  return features;
}

size_t ExampleEncoder::feature_list_size(const Column& c, int64_t r) const {
  size_t n = 0;
  for (int64_t s = c.row_splits[r]; s < c.row_splits[r + 1]; ++s) {
    size_t feat = feature_size(c.kind, list_size(c, c.step_splits[s], c.step_splits[s + 1]));
    n += 1 + varint_size(feat) + feat;
  }
  return n;
}

size_t ExampleEncoder::lists_size(int64_t r) const {
  size_t lists = 0;
  for (size_t k = 0; k < batch_.columns.size(); ++k) {
    const Column& c = batch_.columns[k];
    if (!c.sequence) continue;
    size_t fl = feature_list_size(c, r);
    size_t entry = key_prefix_[k].size() + 1 + varint_size(fl) + fl;
    lists += 1 + varint_size(entry) + entry;
  }
  return lists;
}

// Writes the Feature message of values [b, e) of column c (its size prefix already written; `list`:
// list_size(c, b, e)).
uint8_t* ExampleEncoder::put_feature(const Column& c, int64_t b, int64_t e, size_t list, uint8_t* out) const {
  if (c.kind == Kind::kNone) return out;
  *out++ = uint8_t((uint32_t(c.kind) << 3) | wire::kLengthDelimited);
  out = put_varint(out, list);
  if (b == e) return out;
  switch (c.kind) {
    case Kind::kFloat: {
      size_t payload = size_t(e - b) * 4;
      *out++ = kTagField1Bytes;
      out = put_varint(out, payload);
      if (payload) std::memcpy(out, c.f32 + b, payload);  // an empty column may have no buffer
      out += payload;
      break;
    }
    case Kind::kInt64: {
      *out++ = kTagField1Bytes;
      out = put_varint(out, int64_payload(c.i64 + b, e - b));
      for (int64_t i = b; i < e; ++i) out = put_varint(out, uint64_t(c.i64[i]));
      break;
    }
    case Kind::kBytes: {
      for (int64_t i = b; i < e; ++i) {
        *out++ = kTagField1Bytes;
        out = put_varint(out, c.items[i].size);
        if (c.items[i].size) std::memcpy(out, c.items[i].data, c.items[i].size);
        out += c.items[i].size;
      }
      break;
    }
    case Kind::kNone:
      break;
  }
  return out;
}

uint8_t* ExampleEncoder::encode(int64_t r, size_t features, uint8_t* out) const {
  *out++ = kTagField1Bytes;
  out = put_varint(out, features);
  for (size_t k = 0; k < batch_.columns.size(); ++k) {
    const Column& c = batch_.columns[k];
    if (c.sequence) continue;
    int64_t b = c.row_begin(r), e = c.row_end(r);
    size_t list = list_size(c, b, e);
    size_t feat = feature_size(c.kind, list);
    size_t entry = key_prefix_[k].size() + 1 + varint_size(feat) + feat;
    *out++ = kTagField1Bytes;
    out = put_varint(out, entry);
    std::memcpy(out, key_prefix_[k].data(), key_prefix_[k].size());
    out += key_prefix_[k].size();
    *out++ = kTagField2Bytes;
    out = put_varint(out, feat);
    out = put_feature(c, b, e, list, out);
  }
  if (!has_lists_) return out;
  *out++ = kTagField2Bytes;
  out = put_varint(out, lists_size(r));
  for (size_t k = 0; k < batch_.columns.size(); ++k) {
    const Column& c = batch_.columns[k];
    if (!c.sequence) continue;
    size_t fl = feature_list_size(c, r);
    size_t entry = key_prefix_[k].size() + 1 + varint_size(fl) + fl;
    *out++ = kTagField1Bytes;
    out = put_varint(out, entry);
    std::memcpy(out, key_prefix_[k].data(), key_prefix_[k].size());
    out += key_prefix_[k].size();
    *out++ = kTagField2Bytes;
    out = put_varint(out, fl);
    for (int64_t s = c.row_splits[r]; s < c.row_splits[r + 1]; ++s) {
      int64_t b = c.step_splits[s], e = c.step_splits[s + 1];
      size_t list = list_size(c, b, e);
      *out++ = kTagField1Bytes;
      out = put_varint(out, feature_size(c.kind, list));
      out = put_feature(c, b, e, list, out);
    }
  }
  return out;
}

uint8_t* ExampleEncoder::encode_framed(int64_t r, size_t features, uint8_t* out) const {
  size_t size = record_size(r, features);
  encode_header(out, size);
  uint8_t* data = out + kHeaderSize;
  uint8_t* end = encode(r, features, data);
  encode_footer(end, data, size);
  return end + kFooterSize;
}

}  // namespace tfforge::record
