// Text format printer: one field per line, nested messages in braces, two-space indentation, bytes
// C-escaped with octal for non-printable bytes, floats in the shortest form that reads back exactly.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

class Printer {
 public:
  Printer(Sink& out, const std::string& path) : out_(out), path_(path) { buf_.reserve(1 << 16); }
  ~Printer() = default;

  void message(const MessageDef& m, Span bytes, uint64_t base, int depth) {
    if (depth > kMaxTextDepth)
      throw Error("WireFormatError", "messages nested deeper than " + std::to_string(kMaxTextDepth)).at_path(path_).at_offset(int64_t(base));
    Reader r(bytes, base);
    uint32_t num;
    WireType t;
    try {
      while (r.next(&num, &t)) {
        const FieldDef* f = schema::field_by_number(m, num);
        if (!f)
          throw Error("GraphError", std::string("field ") + std::to_string(num) + " of " + m.name +
                                        " is not in tfforge's compiled schema; text format would lose it")
              .at_path(path_).at_offset(int64_t(r.offset()));
        field(*f, r, t, depth);
        if (buf_.size() >= (1 << 20)) flush();  // bounded memory for multi-gigabyte graphs
      }
    } catch (const wire::ParseError& e) {
      throw Error("WireFormatError", std::string("malformed ") + m.name + ": " + e.what()).at_path(path_).at_offset(int64_t(e.offset));
    }
  }

  void finish() { flush(); }

 private:
  void field(const FieldDef& f, Reader& r, WireType t, int depth) {
    bool scalar = f.type != schema::kString && f.type != schema::kBytes && f.type != schema::kMessage;
    if (scalar && t == wire::kLengthDelimited) {  // packed run
      Span run = r.bytes();
      Reader pr(run, r.offset() - run.size);
      while (!pr.done()) scalar_line(f, pr, depth);
      return;
    }
    if (!wire_ok(f, t)) r.fail(std::string("field ") + f.name + " has the wrong wire type " + std::to_string(t));
    if (scalar) {
      scalar_line(f, r, depth);
    } else if (f.type == schema::kMessage) {
      Span child = r.bytes();
      indent(depth);
      put(f.name);
      put(" {\n");
      message(schema::message_at(f.ref), child, r.offset() - child.size, depth + 1);
      indent(depth);
      put("}\n");
    } else {
      Span s = r.bytes();
      indent(depth);
      put(f.name);
      put(": \"");
      escaped(s);
      put("\"\n");
    }
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
      case schema::kSint32: case schema::kSint64: {
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
      if (std::strtof(out, nullptr) == v) return n;
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
  p.message(m, bytes, 0, 0);
  p.finish();
}

}  // namespace tfforge::graph
