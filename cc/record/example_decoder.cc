#include "record/example_decoder.h"

#include <algorithm>
#include <cstring>

#include "error.h"
#include "record/framing.h"

namespace tfforge::record {
namespace {

using wire::ParseError;
using wire::Reader;
using wire::Span;
using wire::WireType;

[[noreturn]] void corrupt(const RecordContext& ctx, uint64_t offset, const std::string& what) {
  throw Error("CorruptRecordError", "malformed Example: " + what)
      .at_path(*ctx.path).at_record(ctx.record).at_offset(int64_t(offset));
}

[[noreturn]] void mismatch(const RecordContext& ctx, uint64_t offset, const std::string& what) {
  throw Error("SpecError", what).at_path(*ctx.path).at_record(ctx.record).at_offset(int64_t(offset));
}

uint64_t data_base(const RecordContext& ctx) { return ctx.offset + kHeaderSize; }

bool valid_utf8(Span s) {
  size_t i = 0;
  while (i < s.size) {
    uint8_t c = s.data[i];
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 9;
    if (n == 9 || i + n >= s.size) return false;
    for (size_t j = 1; j <= n; ++j)
      if ((s.data[i + j] & 0xc0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

// Calls fn(key, value, value_offset) for each entry of a map message (Features or FeatureLists);
// offsets are absolute stream offsets. Strict: only entries, each exactly one key and one value.
// key_first: TensorFlow's SequenceExample parser wants each entry's key before its value.
template <typename Fn>
void walk_map(Span msg, uint64_t base, bool strict, bool key_first, const char* what, Fn&& fn) {
  Reader fr(msg, base);
  uint32_t field;
  WireType type;
  while (true) {
    uint64_t tag_off = fr.offset();
    if (!fr.next(&field, &type)) break;
    if (field != 1 || type != wire::kLengthDelimited) {
      if (strict)
        throw ParseError(tag_off, std::string(what) + " holds field " + std::to_string(field) + " (wire type " +
                                      std::to_string(type) + "); TensorFlow accepts only map entries there");
      fr.skip(type);
      continue;
    }
    Span entry = fr.bytes();
    uint64_t entry_off = fr.offset() - entry.size;
    Reader er(entry, entry_off);
    Span key{nullptr, 0}, value{nullptr, 0};
    uint64_t value_off = 0;
    int keys = 0, values = 0, others = 0;
    while (er.next(&field, &type)) {
      if (field == 1 && type == wire::kLengthDelimited) {
        key = er.bytes();
        ++keys;
      } else if (field == 2 && type == wire::kLengthDelimited) {
        if (strict && key_first && keys == 0)
          throw ParseError(entry_off, std::string(what) + " entry gives its value before its key; TensorFlow's "
                                      "SequenceExample parser rejects that");
        value = er.bytes();
        value_off = er.offset() - value.size;
        ++values;
      } else {
        er.skip(type);
        ++others;
      }
    }
    if (strict && (keys != 1 || values != 1 || others != 0))
      throw ParseError(entry_off, std::string(what) + " entry" + (keys ? " '" + printable_key(key) + "'" : "") +
                                      " holds " + std::to_string(keys) + " key(s), " + std::to_string(values) +
                                      " value(s) and " + std::to_string(others) +
                                      " other field(s); TensorFlow rejects an entry that is not exactly one "
                                      "key and one value (protobuf would merge repeated values)");
    fn(key, value, value_off);
  }
}

// Walks an Example or SequenceExample: fn_feature for each context feature, fn_list (when lists) for
// each feature list.
template <typename F, typename L>
void walk_record(Span record, const RecordContext& ctx, bool strict, bool lists, F&& fn_feature, L&& fn_list) {
  try {
    Reader ex(record, data_base(ctx));
    uint32_t field;
    WireType type;
    while (ex.next(&field, &type)) {
      if (type != wire::kLengthDelimited || field > 2 || (field == 2 && !lists)) {
        ex.skip(type);
        continue;
      }
      Span msg = ex.bytes();
      if (field == 1)
        walk_map(msg, ex.offset() - msg.size, strict, lists, "Features", fn_feature);
      else
        walk_map(msg, ex.offset() - msg.size, strict, lists, "FeatureLists", fn_list);
    }
  } catch (const ParseError& e) {
    corrupt(ctx, e.offset, e.what());
  }
}

template <typename Fn>
void walk_features(Span example, const RecordContext& ctx, bool strict, Fn&& fn) {
  walk_record(example, ctx, strict, false, fn, [](Span, Span, uint64_t) {});
}

// Walks a Feature message: calls on_kind(kind) when a list field starts and the value callbacks for
// each value. Lenient: every list field is read (a different kind than before discards earlier values,
// as protobuf's oneof does). Strict, as TensorFlow: the first field must be a list and only it is read;
// a list may hold nothing but its values.
template <typename I, typename F, typename B, typename K>
void walk_feature(Span feature, uint64_t base, bool strict, I&& on_i64, F&& on_f32, B&& on_bytes, K&& on_kind) {
  Reader fr(feature, base);
  uint32_t field;
  WireType type;
  while (true) {
    uint64_t tag_off = fr.offset();
    if (!fr.next(&field, &type)) break;
    if (type != wire::kLengthDelimited || field < 1 || field > 3) {
      if (strict)
        throw ParseError(tag_off, "Feature holds field " + std::to_string(field) + " (wire type " +
                                      std::to_string(type) + ") where a bytes/float/int64 list belongs");
      fr.skip(type);
      continue;
    }
    Kind kind = Kind(field);
    on_kind(kind);
    Span list = fr.bytes();
    Reader lr(list, fr.offset() - list.size);
    uint32_t f;
    WireType t;
    while (lr.next(&f, &t)) {
      if (f != 1) {
        if (strict) lr.fail(std::string(kind_name(kind)) + "_list holds field " + std::to_string(f));
        lr.skip(t);
        continue;
      }
      if (kind == Kind::kInt64) {
        if (t == wire::kVarint) {
          on_i64(int64_t(lr.varint()));
        } else if (t == wire::kLengthDelimited) {
          Span packed = lr.bytes();
          Reader pr(packed, lr.offset() - packed.size);
          while (!pr.done()) on_i64(int64_t(pr.varint()));
        } else {
          lr.fail("int64_list value with wire type " + std::to_string(t));
        }
      } else if (kind == Kind::kFloat) {
        if (t == wire::kFixed32) {
          uint32_t bits = lr.fixed32();
          float v;
          std::memcpy(&v, &bits, 4);
          on_f32(&v, 1);
        } else if (t == wire::kLengthDelimited) {
          uint64_t off = lr.offset();
          Span packed = lr.bytes();
          if (packed.size % 4) throw ParseError(off, "packed float_list of " + std::to_string(packed.size) + " bytes");
          on_f32(reinterpret_cast<const float*>(packed.data), packed.size / 4);  // memcpy'd by the callee
        } else {
          lr.fail("float_list value with wire type " + std::to_string(t));
        }
      } else {
        if (t != wire::kLengthDelimited) lr.fail("bytes_list value with wire type " + std::to_string(t));
        on_bytes(lr.bytes());
      }
    }
    if (strict) break;
  }
}

}  // namespace

std::string printable_key(Span key) {
  if (valid_utf8(key)) return key.str();
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < key.size; ++i) {
    uint8_t c = key.data[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(char(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

ExampleDecoder::ExampleDecoder(std::vector<FeatureSpec> spec, bool strict) : spec_(std::move(spec)), strict_(strict) {
  for (size_t k = 0; k < spec_.size(); ++k) {
    index_[spec_[k].sequence ? 1 : 0][spec_[k].name] = int(k);
    has_lists_ = has_lists_ || spec_[k].sequence;
    ColumnOut c;
    c.kind = spec_[k].kind;
    out_.push_back(std::move(c));
  }
  found_.resize(spec_.size());
  found_offset_.resize(spec_.size());
  present_.resize(spec_.size());
  marks_.resize(spec_.size());
}

void ExampleDecoder::remember_sizes() {
  last_sizes_.clear();
  for (auto& c : out_) last_sizes_.emplace_back(c.num_values(), c.row_splits.size());
}

void ExampleDecoder::reset() {
  // Numeric values and row splits may have been moved out; reserve what the last batch needed so the
  // next one does not grow through reallocations. The bytes arena is only copied out: it is kept.
  for (size_t k = 0; k < out_.size(); ++k) {
    ColumnOut& c = out_[k];
    auto [values, rows] = k < last_sizes_.size() ? last_sizes_[k] : std::pair<size_t, size_t>(0, 0);
    c.i64.clear();
    c.f32.clear();
    c.bytes.clear();
    c.bytes_offsets.assign(1, 0);
    c.borrowed.clear();
    c.row_splits.assign(1, 0);
    c.step_splits.assign(1, 0);
    if (c.kind == Kind::kInt64) c.i64.reserve(values);
    if (c.kind == Kind::kFloat) c.f32.reserve(values);
    if (c.kind == Kind::kBytes) c.bytes_offsets.reserve(values + 1);
    if (c.borrow) c.borrowed.reserve(values);
    c.row_splits.reserve(rows);
  }
  last_sizes_.clear();
  rows_ = 0;
}

void ExampleDecoder::borrow_bytes(bool on) {
  for (ColumnOut& c : out_) c.borrow = on && c.kind == Kind::kBytes;
  reset();
}

int ExampleDecoder::find(const uint8_t* key, size_t n, bool sequence) const {
  if (spec_.size() <= 8) {
    for (size_t k = 0; k < spec_.size(); ++k)
      if (spec_[k].sequence == sequence && spec_[k].name.size() == n &&
          (n == 0 || std::memcmp(spec_[k].name.data(), key, n) == 0))
        return int(k);
    return -1;
  }
  const auto& index = index_[sequence ? 1 : 0];
  auto it = index.find(std::string(reinterpret_cast<const char*>(key), n));
  return it == index.end() ? -1 : it->second;
}

void ExampleDecoder::decode(Span example, const RecordContext& ctx) {
  std::fill(present_.begin(), present_.end(), 0);
  auto note = [&](bool sequence) {
    return [this, sequence](Span key, Span value, uint64_t off) {
      int k = find(key.data, key.size, sequence);
      if (k < 0) return;
      found_[size_t(k)] = value;
      found_offset_[size_t(k)] = off;
      present_[size_t(k)] = 1;
    };
  };
  walk_record(example, ctx, strict_, has_lists_, note(false), note(true));
  // Remember sizes so a failure half-way leaves the columns as they were.
  for (size_t k = 0; k < out_.size(); ++k)
    marks_[k] = {out_[k].num_values(), out_[k].row_splits.size(), out_[k].step_splits.size()};
  try {
    for (size_t k = 0; k < spec_.size(); ++k) {
      if (spec_[k].sequence)
        decode_list(k, ctx);
      else
        decode_feature(k, ctx);
    }
  } catch (...) {
    for (size_t k = 0; k < out_.size(); ++k) {
      ColumnOut& c = out_[k];
      const Mark& m = marks_[k];
      c.truncate(m.values);
      c.row_splits.resize(m.rows);
      c.step_splits.resize(m.steps);
    }
    throw;
  }
  ++rows_;
}

void ExampleDecoder::fill_default(size_t k) {
  const FeatureSpec& fs = spec_[k];
  ColumnOut& c = out_[k];
  c.i64.insert(c.i64.end(), fs.default_i64.begin(), fs.default_i64.end());
  c.f32.insert(c.f32.end(), fs.default_f32.begin(), fs.default_f32.end());
  for (auto& v : fs.default_bytes) {
    if (c.borrow)
      c.borrowed.push_back(reinterpret_cast<const uint8_t*>(v.data()));
    else
      c.bytes.insert(c.bytes.end(), v.begin(), v.end());
    c.bytes_offsets.push_back(c.bytes_offsets.back() + int64_t(v.size()));
  }
}

void ExampleDecoder::decode_feature(size_t k, const RecordContext& ctx) {
  const FeatureSpec& fs = spec_[k];
  ColumnOut& c = out_[k];
  size_t before = c.num_values();
  Kind got = present_[k] ? append(k, found_[k], found_offset_[k], ctx, -1) : Kind::kNone;
  int64_t n = int64_t(c.num_values() - before);
  if (fs.count >= 0) {
    // A missing key and a Feature without any list both mean "absent"; an empty list does not.
    if (got == Kind::kNone || (!strict_ && n == 0)) {
      if (!fs.has_default && got == Kind::kNone)
        mismatch(ctx, present_[k] ? found_offset_[k] : ctx.offset,
                 "feature '" + fs.name + "' (" + kind_name(fs.kind) + ") is missing" +
                     (present_[k] ? " (its Feature holds no list)" : "") + " and the spec gives no default");
      if (fs.has_default) {
        c.truncate(before);
        fill_default(k);
        n = fs.count;
      }
    }
    if (n != fs.count)
      mismatch(ctx, found_offset_[k],
               "feature '" + fs.name + "' has " + std::to_string(n) + " values where the spec says " +
                   std::to_string(fs.count) + " (" + kind_name(fs.kind) + ")");
  } else if (fs.stride > 1 && n % fs.stride != 0) {
    mismatch(ctx, found_offset_[k],
             "feature '" + fs.name + "' has " + std::to_string(n) + " " + kind_name(fs.kind) +
                 " values, not a multiple of the " + std::to_string(fs.stride) + " values of one step");
  }
  c.row_splits.push_back(int64_t(c.num_values()));
}

void ExampleDecoder::decode_list(size_t k, const RecordContext& ctx) {
  const FeatureSpec& fs = spec_[k];
  ColumnOut& c = out_[k];
  if (!present_[k]) {
    if (fs.required)
      mismatch(ctx, ctx.offset, "feature list '" + fs.name + "' is required but missing");
  } else {
    int64_t step = 0;
    try {
      Reader lr(found_[k], found_offset_[k]);
      uint32_t field;
      WireType type;
      while (true) {
        uint64_t tag_off = lr.offset();
        if (!lr.next(&field, &type)) break;
        if (field != 1 || type != wire::kLengthDelimited) {
          if (strict_) throw ParseError(tag_off, "FeatureList '" + fs.name + "' holds field " + std::to_string(field));
          lr.skip(type);
          continue;
        }
        Span feature = lr.bytes();
        uint64_t off = lr.offset() - feature.size;
        size_t before = c.num_values();
        append(k, feature, off, ctx, step);
        int64_t n = int64_t(c.num_values() - before);
        if (fs.count >= 0 && n != fs.count)
          mismatch(ctx, off,
                   "feature list '" + fs.name + "', step " + std::to_string(step) + ": has " + std::to_string(n) +
                       " values where the spec says " + std::to_string(fs.count) + " (" + kind_name(fs.kind) + ")");
        c.step_splits.push_back(int64_t(c.num_values()));
        ++step;
      }
    } catch (const ParseError& e) {
      corrupt(ctx, e.offset, "feature list '" + fs.name + "': " + e.what());
    }
  }
  c.row_splits.push_back(int64_t(c.step_splits.size()) - 1);
}

Kind ExampleDecoder::append(size_t k, Span feature, uint64_t base, const RecordContext& ctx, int64_t step) {
  ColumnOut& c = out_[k];
  const FeatureSpec& fs = spec_[k];
  size_t start_values = c.num_values();
  Kind seen = Kind::kNone;
  auto where = [&]() {
    return (fs.sequence ? "feature list '" + fs.name + "', step " + std::to_string(step) : "feature '" + fs.name + "'");
  };
  try {
    walk_feature(
        feature, base, strict_, [&](int64_t v) { c.i64.push_back(v); },
        [&](const float* v, size_t n) {
          size_t old = c.f32.size();
          c.f32.resize(old + n);
          if (n) std::memcpy(c.f32.data() + old, v, n * 4);  // data() may be null while empty
        },
        [&](Span b) {
          if (c.borrow)
            c.borrowed.push_back(b.data);
          else
            c.bytes.insert(c.bytes.end(), b.data, b.data + b.size);
          c.bytes_offsets.push_back(c.bytes_offsets.back() + int64_t(b.size));
        },
        [&](Kind kind) {
          if (strict_ && kind != fs.kind)  // TensorFlow: "Data types don't match", even for an empty list
            mismatch(ctx, base, where() + " holds a " + kind_name(kind) + "_list; the spec says " + kind_name(fs.kind));
          if (seen != Kind::kNone && kind != seen) {  // lenient: a later list of another kind replaces the earlier one
            c.truncate(start_values);
          }
          seen = kind;
        });
  } catch (const ParseError& e) {
    corrupt(ctx, e.offset, where() + ": " + e.what());
  }
  if (seen != Kind::kNone && seen != fs.kind) {
    // Lenient: values of another kind went to a vector this column does not use; an empty list of any
    // kind is accepted there.
    size_t stray = seen == Kind::kInt64 ? c.i64.size() : seen == Kind::kFloat ? c.f32.size() : c.bytes_offsets.size() - 1;
    if (stray != 0) {
      c.truncate(start_values);
      mismatch(ctx, base, where() + " holds a " + std::string(kind_name(seen)) + "_list; the spec says " + kind_name(fs.kind));
    }
    return Kind::kNone;
  }
  return seen;
}

std::vector<FeatureSeen> scan_example(Span example, const RecordContext& ctx, bool strict) {
  std::vector<FeatureSeen> out;
  walk_features(example, ctx, strict, [&](Span key, Span value, uint64_t off) {
    FeatureSeen f{key.str(), Kind::kInt64, false, 0};
    try {
      walk_feature(
          value, off, strict, [&](int64_t) { ++f.count; }, [&](const float*, size_t n) { f.count += int64_t(n); },
          [&](Span) { ++f.count; },
          [&](Kind k) {
            if (f.kind_known && k != f.kind) f.count = 0;
            f.kind = k;
            f.kind_known = true;
          });
    } catch (const ParseError& e) {
      corrupt(ctx, e.offset, "feature '" + printable_key(key) + "': " + e.what());
    }
    for (auto& g : out)
      if (g.name == f.name) {  // repeated key: the last one wins
        g = f;
        return;
      }
    out.push_back(std::move(f));
  });
  return out;
}

std::vector<FeatureValues> parse_example(Span example, const RecordContext& ctx) {
  std::vector<FeatureValues> out;
  walk_features(example, ctx, false, [&](Span key, Span value, uint64_t off) {
    FeatureValues f{key.str(), Kind::kInt64, false, {}, {}, {}};
    try {
      walk_feature(
          value, off, false, [&](int64_t v) { f.i64.push_back(v); },
          [&](const float* v, size_t n) {
            size_t old = f.f32.size();
            f.f32.resize(old + n);
            if (n) std::memcpy(f.f32.data() + old, v, n * 4);
          },
          [&](Span b) { f.bytes.push_back(b.str()); },
          [&](Kind k) {
            if (f.kind_known && k != f.kind) {
              f.i64.clear();
              f.f32.clear();
              f.bytes.clear();
            }
            f.kind = k;
            f.kind_known = true;
          });
    } catch (const ParseError& e) {
      corrupt(ctx, e.offset, "feature '" + printable_key(key) + "': " + e.what());
    }
    for (auto& g : out)
      if (g.name == f.name) {
        g = std::move(f);
        return;
      }
    out.push_back(std::move(f));
  });
  return out;
}

}  // namespace tfforge::record
