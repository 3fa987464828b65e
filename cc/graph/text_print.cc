// Text format printer: one field per line, nested messages in braces, two-space indentation, bytes
// C-escaped with octal for non-printable bytes, floats in the shortest form that reads back exactly.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "error.h"
#include "graph/text_format.h"

namespace tfforge::graph {

using schema::FieldDef;
using schema::MessageDef;
using wire::Reader;
using wire::Span;
using wire::WireType;

namespace {

struct EscapeTable {
  char text[256][5];
  uint8_t len[256];
  EscapeTable() {
    for (int c = 0; c < 256; ++c) {
      if (c == '\n') set(c, "\\n");
      else if (c == '\r') set(c, "\\r");
      else if (c == '\t') set(c, "\\t");
      else if (c == '"') set(c, "\\\"");
      else if (c == '\'') set(c, "\\'");
      else if (c == '\\') set(c, "\\\\");
      else if (c < 32 || c >= 127) {
        char b[5];
        std::snprintf(b, sizeof b, "\\%03o", c);
        set(c, b);
      } else {
        text[c][0] = char(c);
        len[c] = 1;
      }
    }
  }
  void set(int c, const char* s) {
    len[c] = uint8_t(std::strlen(s));
    std::memcpy(text[c], s, len[c]);
  }
};

const EscapeTable& escapes() {
  static const EscapeTable t;
  return t;
}

// A message's bytes: one span, or several when a singular message field occurs more than once
// (protobuf merges the occurrences, which is parsing their concatenation).
struct Piece {
  Span bytes;
  uint64_t base;
};

// One field occurrence: the value's bytes (payload of a length-delimited field, the raw varint or
// fixed-width bytes otherwise) and where it starts in the file.
struct Occurrence {
  int field;  // index into the message's fields
  WireType type;
  Span value;
  uint64_t base;
};

// Whether protobuf holds the field's default (zero) after parsing the value: bitwise for
// fixed-width fields (so -0.0 is set), after truncation to 32 bits for 32-bit varint types.
bool is_zero(const FieldDef& f, Span s, WireType t) {
  if (t == wire::kLengthDelimited) return s.size == 0;
  if (t == wire::kVarint) {
    uint64_t v = Reader(s).varint();
    bool narrow = f.type == schema::kInt32 || f.type == schema::kUint32 || f.type == schema::kSint32 || f.type == schema::kEnum;
    return narrow ? uint32_t(v) == 0 : v == 0;
  }
  for (size_t i = 0; i < s.size; ++i)
    if (s.data[i]) return false;
  return true;
}

class Printer {
 public:
  Printer(Sink& out, const std::string& path) : out_(out), path_(path) { buf_.reserve(1 << 16); }
  ~Printer() = default;

  // Prints what protobuf's parser makes of the pieces, as text_format prints it: fields in number
  // order; a singular field's last value (messages merged); of a oneof only the member set last;
  // proto3 scalars without presence only when not zero; fields with a wire type protobuf does not
  // accept for them are unknown fields, which text_format does not print.
  void message(const MessageDef& m, const std::vector<Piece>& pieces, int depth) {
    if (depth > kMaxTextDepth)
      throw Error("WireFormatError", "messages nested deeper than " + std::to_string(kMaxTextDepth))
          .at_path(path_).at_offset(int64_t(pieces.empty() ? 0 : pieces[0].base));
    const FieldDef* fields = schema::begin(m);
    const int count = m.count;
    std::vector<Occurrence> occ;
    // Per field: the first occurrence index still in effect (a oneof switch or a later value of a
    // singular scalar drops the earlier ones), and the last occurrence.
    std::vector<size_t> from(size_t(count), 0), last(size_t(count), SIZE_MAX);
    std::vector<int> oneof_member;  // per oneof: the field index set last, -1 for none
    for (const Piece& piece : pieces) {
      Reader r(piece.bytes, piece.base);
      uint32_t num;
      WireType t;
      try {
        while (!r.done()) {
          const uint64_t at = r.offset();
          if (!r.next(&num, &t)) break;
          const FieldDef* f = schema::field_by_number(m, num);
          if (!f)
            throw Error("GraphError", std::string("field ") + std::to_string(num) + " of " + m.name +
                                          " is not in tfforge's compiled schema; text format would lose it")
                .at_path(path_).at_offset(int64_t(at));
          const uint8_t* value_start = r.cursor();
          Span value;
          if (t == wire::kLengthDelimited) {
            value = r.bytes();
          } else {
            r.skip(t);
            value = Span{value_start, size_t(r.cursor() - value_start)};
          }
          if (!accepted(*f, t)) continue;  // an unknown field to protobuf
          const int fi = int(f - fields);
          if (!f->repeated) {
            if (f->oneof >= 0) {
              if (oneof_member.size() <= size_t(f->oneof)) oneof_member.resize(size_t(f->oneof) + 1, -1);
              int& member = oneof_member[size_t(f->oneof)];
              if (member != fi) {
                if (member >= 0) from[size_t(member)] = SIZE_MAX;  // setting another member clears it
                member = fi;
                from[size_t(fi)] = occ.size();
              }
            }
            if (f->type != schema::kMessage) from[size_t(fi)] = occ.size();  // last value wins
          }
          last[size_t(fi)] = occ.size();
          occ.push_back({fi, t, value, r.offset() - value.size});
        }
      } catch (const wire::ParseError& e) {
        throw Error("WireFormatError", std::string("malformed ") + m.name + ": " + e.what()).at_path(path_).at_offset(int64_t(e.offset));
      }
    }
    // Occurrence indices grouped by field, in wire order within a field.
    std::vector<size_t> start(size_t(count) + 1, 0), order(occ.size());
    for (auto& o : occ) ++start[size_t(o.field) + 1];
    for (int i = 0; i < count; ++i) start[size_t(i) + 1] += start[size_t(i)];
    {
      std::vector<size_t> fill(start.begin(), start.end() - 1);
      for (size_t i = 0; i < occ.size(); ++i) order[fill[size_t(occ[i].field)]++] = i;
    }
    for (int fi = 0; fi < count; ++fi) {
      const FieldDef& f = fields[fi];
      const size_t b = start[size_t(fi)], e = start[size_t(fi) + 1];
      if (b == e || last[size_t(fi)] == SIZE_MAX || (!f.repeated && from[size_t(fi)] == SIZE_MAX)) continue;
      if (f.repeated) {
        for (size_t k = b; k < e; ++k) value(f, occ[order[k]], depth);
      } else if (f.type == schema::kMessage) {
        std::vector<Piece> merged;
        for (size_t k = b; k < e; ++k)
          if (order[k] >= from[size_t(fi)]) merged.push_back({occ[order[k]].value, occ[order[k]].base});
        if (merged.empty()) continue;
        open_block(f, depth);
        message(schema::message_at(f.ref), merged, depth + 1);
        close_block(depth);
      } else {
        const Occurrence& o = occ[last[size_t(fi)]];
        // proto3: zero is "not set"; map entries are written whole (key 0 included) by serializers
        if (!f.presence && !m.map_entry && is_zero(f, o.value, o.type)) continue;
        value(f, o, depth);
      }
      if (buf_.size() >= (1 << 20)) flush();  // bounded memory for multi-gigabyte graphs
    }
  }

  void finish() { flush(); }

 private:
  // protobuf (upb) keeps a map entry holding an unknown field (a wrong wire type, another field
  // number) as an unknown field of the map's message: the entry is not in the map.
  bool unknown_inside_entry(const MessageDef& entry, Span bytes) {
    Reader r(bytes);
    uint32_t num;
    WireType t;
    try {
      while (r.next(&num, &t)) {
        r.skip(t);
        const FieldDef* f = schema::field_by_number(entry, num);
        if (!f || !accepted(*f, t)) return true;
      }
    } catch (const wire::ParseError&) {
      return false;  // reported when the entry is printed
    }
    return false;
  }

  void value(const FieldDef& f, const Occurrence& o, int depth) {
    if (f.type == schema::kMessage && schema::message_at(f.ref).map_entry &&
        unknown_inside_entry(schema::message_at(f.ref), o.value))
      return;
    if (f.type == schema::kMessage) {
      open_block(f, depth);
      message(schema::message_at(f.ref), {Piece{o.value, o.base}}, depth + 1);
      close_block(depth);
    } else if (f.type == schema::kString || f.type == schema::kBytes) {
      indent(depth);
      put(f.name);
      put(": \"");
      escaped(o.value);
      put("\"\n");
    } else if (o.type == wire::kLengthDelimited) {  // a packed run of a repeated scalar
      Reader pr(o.value, o.base);
      try {
        while (!pr.done()) scalar_line(f, pr, depth);
      } catch (const wire::ParseError& e) {
        throw Error("WireFormatError", std::string("malformed packed ") + f.name + ": " + e.what()).at_path(path_).at_offset(int64_t(e.offset));
      }
    } else {
      Reader vr(o.value, o.base);
      scalar_line(f, vr, depth);
    }
  }

  void open_block(const FieldDef& f, int depth) {
    indent(depth);
    put(f.name);
    put(" {\n");
  }
  void close_block(int depth) {
    indent(depth);
    put("}\n");
  }

  // The wire types protobuf's parser accepts for a field; anything else it keeps as unknown.
  static bool accepted(const FieldDef& f, WireType t) {
    if (wire_ok(f, t)) return true;
    bool scalar = f.type != schema::kString && f.type != schema::kBytes && f.type != schema::kMessage;
    return scalar && f.repeated && t == wire::kLengthDelimited;
  }

  static bool wire_ok(const FieldDef& f, WireType t) {
    switch (f.type) {
      case schema::kDouble: case schema::kFixed64: case schema::kSfixed64: return t == wire::kFixed64;
      case schema::kFloat: case schema::kFixed32: case schema::kSfixed32: return t == wire::kFixed32;
      case schema::kString: case schema::kBytes: case schema::kMessage: return t == wire::kLengthDelimited;
      case schema::kGroup: return false;
      default: return t == wire::kVarint;
    }
  }

  void scalar_line(const FieldDef& f, Reader& r, int depth) {
    indent(depth);
    put(f.name);
    put(": ");
    char num[64];
    int n = 0;
    switch (f.type) {
      case schema::kDouble: { uint64_t v = r.fixed64(); double d; std::memcpy(&d, &v, 8); n = fmt_double(num, d); break; }
      case schema::kFloat: { uint32_t v = r.fixed32(); float d; std::memcpy(&d, &v, 4); n = fmt_float(num, d); break; }
      case schema::kInt64: n = std::snprintf(num, sizeof num, "%lld", (long long)int64_t(r.varint())); break;
      case schema::kInt32: n = std::snprintf(num, sizeof num, "%d", int32_t(r.varint())); break;
      case schema::kUint64: n = std::snprintf(num, sizeof num, "%llu", (unsigned long long)r.varint()); break;
      case schema::kUint32: n = std::snprintf(num, sizeof num, "%u", uint32_t(r.varint())); break;
      case schema::kFixed64: n = std::snprintf(num, sizeof num, "%llu", (unsigned long long)r.fixed64()); break;
      case schema::kSfixed64: n = std::snprintf(num, sizeof num, "%lld", (long long)int64_t(r.fixed64())); break;
      case schema::kFixed32: n = std::snprintf(num, sizeof num, "%u", r.fixed32()); break;
      case schema::kSfixed32: n = std::snprintf(num, sizeof num, "%d", int32_t(r.fixed32())); break;
      case schema::kSint32: {  // protobuf truncates to 32 bits before zigzag decoding
        uint32_t v = uint32_t(r.varint());
        n = std::snprintf(num, sizeof num, "%d", int32_t((v >> 1) ^ (0u - (v & 1))));
        break;
      }
      case schema::kSint64: {
        uint64_t v = r.varint();
        n = std::snprintf(num, sizeof num, "%lld", (long long)(int64_t(v >> 1) ^ -int64_t(v & 1)));
        break;
      }
      case schema::kBool: {
        uint64_t v = r.varint();
        n = std::snprintf(num, sizeof num, "%s", v ? "true" : "false");
        break;
      }
      case schema::kEnum: {
        int v = int32_t(r.varint());
        const char* name = schema::enum_name(schema::enum_at(f.ref), v);
        n = name ? std::snprintf(num, sizeof num, "%s", name) : std::snprintf(num, sizeof num, "%d", v);
        break;
      }
    }
    put(num, size_t(n));
    put("\n");
  }

  static int fmt_float(char* out, float v) {
    if (std::isnan(v)) return std::snprintf(out, 8, "nan");
    if (std::isinf(v)) return std::snprintf(out, 8, v < 0 ? "-inf" : "inf");
    for (int p = 1; p <= 9; ++p) {
      int n = std::snprintf(out, 40, "%.*g", p, double(v));
      if (float(std::strtod(out, nullptr)) == v) return n;  // parsers read a double, then round
    }
    return std::snprintf(out, 40, "%.9g", double(v));
  }

  static int fmt_double(char* out, double v) {
    if (std::isnan(v)) return std::snprintf(out, 8, "nan");
    if (std::isinf(v)) return std::snprintf(out, 8, v < 0 ? "-inf" : "inf");
    for (int p = 1; p <= 17; ++p) {
      int n = std::snprintf(out, 40, "%.*g", p, v);
      if (std::strtod(out, nullptr) == v) return n;
    }
    return std::snprintf(out, 40, "%.17g", v);
  }

  void escaped(Span s) {
    const EscapeTable& t = escapes();
    // Worst case 4 bytes per input byte; escape in chunks into the buffer.
    const uint8_t* p = s.data;
    size_t left = s.size;
    while (left) {
      size_t chunk = left < 16384 ? left : 16384;
      size_t at = buf_.size();
      buf_.resize(at + chunk * 4);
      char* o = &buf_[at];
      for (size_t i = 0; i < chunk; ++i) {
        uint8_t c = p[i];
        uint8_t l = t.len[c];
        std::memcpy(o, t.text[c], 4);
        o += l;
      }
      buf_.resize(size_t(o - buf_.data()));
      p += chunk;
      left -= chunk;
      if (buf_.size() >= (1 << 20)) flush();
    }
  }

  void indent(int depth) { buf_.append(size_t(depth) * 2, ' '); }
  void put(const char* s) { buf_.append(s); }
  void put(const char* s, size_t n) { buf_.append(s, n); }
  void flush() {
    if (!buf_.empty()) out_.put(buf_.data(), buf_.size());
    buf_.clear();
  }
  Sink& out_;
  const std::string& path_;
  std::string buf_;
};

}  // namespace

void print_text(const MessageDef& m, Span bytes, Sink& out, const std::string& path) {
  Printer p(out, path);
  p.message(m, {Piece{bytes, 0}}, 0);
  p.finish();
}

}  // namespace tfforge::graph
