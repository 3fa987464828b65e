#include "record/example_decoder.h"

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

uint64_t data_base(const RecordContext& ctx) { return ctx.offset + kHeaderSize; }

// Calls fn(key, feature_bytes, feature_offset) for each map entry of the Example's (or
// SequenceExample's context) Features; feature offsets are absolute stream offsets.
template <typename Fn>
void walk_features(Span example, const RecordContext& ctx, Fn&& fn) {
  try {
    Reader ex(example, data_base(ctx));
    uint32_t field;
    WireType type;
    while (ex.next(&field, &type)) {
      if (field != 1 || type != wire::kLengthDelimited) {
        ex.skip(type);
        continue;
      }
      Span feats = ex.bytes();
      Reader fr(feats, ex.offset() - feats.size);
      while (fr.next(&field, &type)) {
        if (field != 1 || type != wire::kLengthDelimited) {
          fr.skip(type);
          continue;
        }
        Span entry = fr.bytes();
        Reader er(entry, fr.offset() - entry.size);
        Span key{nullptr, 0}, value{nullptr, 0};
        uint64_t value_off = 0;
        while (er.next(&field, &type)) {
          if (field == 1 && type == wire::kLengthDelimited) {
            key = er.bytes();
          } else if (field == 2 && type == wire::kLengthDelimited) {
            value = er.bytes();
            value_off = er.offset() - value.size;
          } else {
            er.skip(type);
          }
        }
        fn(key, value, value_off);
      }
    }
  } catch (const ParseError& e) {
    corrupt(ctx, e.offset, e.what());
  }
}

// Walks a Feature message: calls on_kind(kind) when a list field starts (a different kind than before
// discards earlier values, as protobuf's oneof does) and the value callbacks for each value.
template <typename I, typename F, typename B, typename K>
void walk_feature(Span feature, uint64_t base, I&& on_i64, F&& on_f32, B&& on_bytes, K&& on_kind) {
  Reader fr(feature, base);
  uint32_t field;
  WireType type;
  while (fr.next(&field, &type)) {
    if (type != wire::kLengthDelimited || field < 1 || field > 3) {
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
  }
}

}  // namespace

ExampleDecoder::ExampleDecoder(std::vector<FeatureSpec> spec) : spec_(std::move(spec)) {
  for (size_t k = 0; k < spec_.size(); ++k) {
    index_[spec_[k].name] = int(k);
    ColumnOut c;
    c.kind = spec_[k].kind;
    out_.push_back(std::move(c));
  }
  found_.resize(spec_.size());
  found_offset_.resize(spec_.size());
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
    c.row_splits.assign(1, 0);
    if (c.kind == Kind::kInt64) c.i64.reserve(values);
    if (c.kind == Kind::kFloat) c.f32.reserve(values);
    if (c.kind == Kind::kBytes) c.bytes_offsets.reserve(values + 1);
    c.row_splits.reserve(rows);
  }
  last_sizes_.clear();
  rows_ = 0;
}

int ExampleDecoder::find(const uint8_t* key, size_t n) const {
  if (spec_.size() <= 8) {
    for (size_t k = 0; k < spec_.size(); ++k)
      if (spec_[k].name.size() == n && std::memcmp(spec_[k].name.data(), key, n) == 0) return int(k);
    return -1;
  }
  auto it = index_.find(std::string(reinterpret_cast<const char*>(key), n));
  return it == index_.end() ? -1 : it->second;
}

void ExampleDecoder::decode(Span example, const RecordContext& ctx) {
  for (auto& f : found_) f = Span{nullptr, 0};
  std::vector<bool> present(spec_.size(), false);
  walk_features(example, ctx, [&](Span key, Span value, uint64_t off) {
    int k = find(key.data, key.size);
    if (k < 0) return;
    found_[size_t(k)] = value;
    found_offset_[size_t(k)] = off;
    present[size_t(k)] = true;
  });
  // Remember sizes so a failure half-way leaves the columns as they were.
  struct Mark { size_t values, bytes, rows; };
  std::vector<Mark> marks(out_.size());
  for (size_t k = 0; k < out_.size(); ++k)
    marks[k] = {out_[k].num_values(), out_[k].bytes.size(), out_[k].row_splits.size()};
  try {
    for (size_t k = 0; k < spec_.size(); ++k) {
      const FeatureSpec& fs = spec_[k];
      ColumnOut& c = out_[k];
      if (present[k]) append(k, found_[k], found_offset_[k], ctx);
      int64_t n = int64_t(c.num_values() - marks[k].values);
      if (fs.count >= 0 && n != fs.count) {
        if (n == 0 && fs.has_default) {
          for (auto v : fs.default_i64) c.i64.push_back(v);
          for (auto v : fs.default_f32) c.f32.push_back(v);
          for (auto& v : fs.default_bytes) {
            c.bytes.insert(c.bytes.end(), v.begin(), v.end());
            c.bytes_offsets.push_back(int64_t(c.bytes.size()));
          }
        } else {
          throw Error("SpecError", present[k] ? "feature '" + fs.name + "' has " + std::to_string(n) +
                                                   " values where the spec says " + std::to_string(fs.count)
                                              : "feature '" + fs.name + "' is missing and has no default")
              .at_path(*ctx.path).at_record(ctx.record)
              .at_offset(int64_t(present[k] ? found_offset_[k] : ctx.offset));
        }
      }
      c.row_splits.push_back(int64_t(c.num_values()));
    }
  } catch (...) {
    for (size_t k = 0; k < out_.size(); ++k) {
      ColumnOut& c = out_[k];
      c.i64.resize(c.kind == Kind::kInt64 ? marks[k].values : 0);
      c.f32.resize(c.kind == Kind::kFloat ? marks[k].values : 0);
      c.bytes.resize(marks[k].bytes);
      c.bytes_offsets.resize(c.kind == Kind::kBytes ? marks[k].values + 1 : 1);
      c.row_splits.resize(marks[k].rows);
    }
    throw;
  }
  ++rows_;
}

void ExampleDecoder::append(size_t k, Span feature, uint64_t base, const RecordContext& ctx) {
  ColumnOut& c = out_[k];
  const FeatureSpec& fs = spec_[k];
  size_t start_values = c.num_values(), start_bytes = c.bytes.size();
  Kind seen = fs.kind;
  bool any_kind = false;
  try {
    walk_feature(
        feature, base, [&](int64_t v) { c.i64.push_back(v); },
        [&](const float* v, size_t n) {
          size_t old = c.f32.size();
          c.f32.resize(old + n);
          std::memcpy(c.f32.data() + old, v, n * 4);
        },
        [&](Span b) {
          c.bytes.insert(c.bytes.end(), b.data, b.data + b.size);
          c.bytes_offsets.push_back(int64_t(c.bytes.size()));
        },
        [&](Kind kind) {
          if (any_kind && kind != seen) {  // a later list of another kind replaces the earlier one
            c.i64.resize(c.kind == Kind::kInt64 ? start_values : 0);
            c.f32.resize(c.kind == Kind::kFloat ? start_values : 0);
            c.bytes.resize(start_bytes);
            c.bytes_offsets.resize(c.kind == Kind::kBytes ? start_values + 1 : 1);
          }
          seen = kind;
          any_kind = true;
        });
  } catch (const ParseError& e) {
    corrupt(ctx, e.offset, "feature '" + fs.name + "': " + e.what());
  }
  if (any_kind && seen != fs.kind) {
    // Values of another kind went to a vector this column does not use; an empty list of any kind is fine.
    size_t stray = seen == Kind::kInt64 ? c.i64.size() : seen == Kind::kFloat ? c.f32.size() : c.bytes_offsets.size() - 1;
    if (stray != 0)
      throw Error("SpecError", "feature '" + fs.name + "' holds a " + kind_name(seen) + "_list; the spec says " +
                                   kind_name(fs.kind)).at_path(*ctx.path).at_record(ctx.record).at_offset(int64_t(base));
  }
}

std::vector<FeatureSeen> scan_example(Span example, const RecordContext& ctx) {
  std::vector<FeatureSeen> out;
  walk_features(example, ctx, [&](Span key, Span value, uint64_t off) {
    FeatureSeen f{key.str(), Kind::kInt64, false, 0};
    try {
      walk_feature(
          value, off, [&](int64_t) { ++f.count; }, [&](const float*, size_t n) { f.count += int64_t(n); },
          [&](Span) { ++f.count; },
          [&](Kind k) {
            if (f.kind_known && k != f.kind) f.count = 0;
            f.kind = k;
            f.kind_known = true;
          });
    } catch (const ParseError& e) {
      corrupt(ctx, e.offset, "feature '" + f.name + "': " + e.what());
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
  walk_features(example, ctx, [&](Span key, Span value, uint64_t off) {
    FeatureValues f{key.str(), Kind::kInt64, false, {}, {}, {}};
    try {
      walk_feature(
          value, off, [&](int64_t v) { f.i64.push_back(v); },
          [&](const float* v, size_t n) {
            size_t old = f.f32.size();
            f.f32.resize(old + n);
            std::memcpy(f.f32.data() + old, v, n * 4);
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
      corrupt(ctx, e.offset, "feature '" + f.name + "': " + e.what());
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
