// Text format parser: a hand-written tokenizer and a recursive descent over the schema tables that
// emits wire bytes directly. Nested messages are written in place after a one-byte length slot,
// which is widened (one memmove) only when the message turns out to be 128 bytes or longer.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "error.h"
#include "graph/text_format.h"

namespace tfforge::graph {

using schema::FieldDef;
using schema::MessageDef;
using wire::Span;

namespace {

class Parser {
 public:
  Parser(Span text, const std::string& path) : p_(reinterpret_cast<const char*>(text.data)), begin_(p_),
                                               end_(p_ + text.size), path_(path) {}

  void message(const MessageDef& m, std::string& out, char close) {
    // The NodeDef being parsed, for errors: its name once the name field was read.
    const MessageDef* outer = current_;
    std::string outer_node = node_name_;
    current_ = &m;
    if (std::strcmp(m.name, "tensorflow.NodeDef") == 0) node_name_.clear();
    body(m, out, close);
    current_ = outer;
    node_name_ = std::move(outer_node);
  }

  void body(const MessageDef& m, std::string& out, char close) {
    while (true) {
      skip_space();
      if (p_ >= end_) {
        if (close) fail(std::string("unexpected end of text inside ") + m.name);
        close_packed(out);
        return;
      }
      if (close && *p_ == close) {
        ++p_;
        close_packed(out);
        return;
      }
      if (*p_ == '[') {
        any_expanded(m, out);
        continue;
      }
      const char* name_at = p_;
      std::string name = identifier();
      if (name.empty()) fail(std::string("expected a field name of ") + m.name + ", found '" + std::string(1, *p_) + "'");
      const FieldDef* f = schema::field_by_name(m, name);
      if (!f) {
        p_ = name_at;
        fail(std::string(m.name) + " has no field '" + name + "'");
      }
      skip_space();
      bool colon = p_ < end_ && *p_ == ':';
      if (colon) {
        ++p_;
        skip_space();
      }
      if (p_ < end_ && *p_ == '[') {  // a list: field: [v, v] or field [{...}, {...}]
        ++p_;
        skip_space();
        if (p_ < end_ && *p_ == ']') { ++p_; continue; }
        while (true) {
          value(*f, out, colon);
          skip_space();
          if (p_ < end_ && *p_ == ',') { ++p_; skip_space(); continue; }
          if (p_ < end_ && *p_ == ']') { ++p_; break; }
          fail("expected ',' or ']' in the list of " + name);
        }
      } else {
        value(*f, out, colon);
      }
      skip_space();
      if (p_ < end_ && (*p_ == ',' || *p_ == ';')) ++p_;  // optional separators
    }
  }

  void done() {
    skip_space();
    if (p_ < end_) fail("unexpected text after the message");
  }

 private:
  // --- values ---
  void value(const FieldDef& f, std::string& out, bool had_colon) {
    if (open_packed_ != &f) close_packed(out);
    if (f.type == schema::kMessage) {
      if (p_ >= end_ || (*p_ != '{' && *p_ != '<')) fail(std::string("expected '{' to open ") + f.name);
      char close = *p_ == '{' ? '}' : '>';
      ++p_;
      tag(out, f.number, wire::kLengthDelimited);
      size_t slot = out.size();
      out.push_back('\0');
      if (++depth_ > kMaxTextDepth) fail("messages nested deeper than " + std::to_string(kMaxTextDepth));
      message(schema::message_at(f.ref), out, close);
      --depth_;
      fix_length(out, slot);
      return;
    }
    if (!had_colon) fail(std::string("expected ':' after ") + f.name);
    if (f.type == schema::kString || f.type == schema::kBytes) {
      tag(out, f.number, wire::kLengthDelimited);
      size_t slot = out.size();
      out.push_back('\0');
      const char* at = p_;
      string_literal(out);
      if (f.type == schema::kString) {  // protobuf refuses string fields that are not UTF-8
        Span s{reinterpret_cast<const uint8_t*>(out.data()) + slot + 1, out.size() - slot - 1};
        if (!wire::is_utf8(s)) fail_at(at, std::string(current_->name) + "." + f.name + " is not valid UTF-8 (use a bytes field or fix the escapes)");
        if (std::strcmp(f.name, "name") == 0 && std::strcmp(current_->name, "tensorflow.NodeDef") == 0) node_name_ = s.str();
      }
      fix_length(out, slot);
      return;
    }
    // Packed fields: consecutive values of the same field share one open run, closed by the next
    // field or the end of the message (protobuf serializers write one run per field).
    if (f.packed) {
      if (open_packed_ != &f) {
        close_packed(out);
        tag(out, f.number, wire::kLengthDelimited);
        packed_slot_ = out.size();
        out.push_back('\0');
        open_packed_ = &f;
      }
      scalar(f, out);
      return;
    }
    uint32_t wt = (f.type == schema::kDouble || f.type == schema::kFixed64 || f.type == schema::kSfixed64) ? wire::kFixed64
                  : (f.type == schema::kFloat || f.type == schema::kFixed32 || f.type == schema::kSfixed32) ? wire::kFixed32
                                                                                                            : wire::kVarint;
    tag(out, f.number, wire::WireType(wt));
    scalar(f, out);
  }

  void close_packed(std::string& out) {
    if (open_packed_) fix_length(out, packed_slot_);
    open_packed_ = nullptr;
  }

  void scalar(const FieldDef& f, std::string& out) {
    const char* at = p_;
    std::string tok = token();
    if (tok.empty()) fail(std::string("expected a value for ") + f.name);
    switch (f.type) {
      case schema::kDouble: { double d = parse_double(tok, at); append(out, &d, 8); return; }
      case schema::kFloat: { float v = float(parse_double(tok, at)); append(out, &v, 4); return; }
      case schema::kFixed64: case schema::kSfixed64: {
        uint64_t v = f.type == schema::kFixed64 ? parse_uint(tok, at, UINT64_MAX) : uint64_t(parse_int(tok, at, INT64_MIN, INT64_MAX));
        append(out, &v, 8);
        return;
      }
      case schema::kFixed32: case schema::kSfixed32: {
        uint32_t v = f.type == schema::kFixed32 ? uint32_t(parse_uint(tok, at, UINT32_MAX))
                                                : uint32_t(int32_t(parse_int(tok, at, INT32_MIN, INT32_MAX)));
        append(out, &v, 4);
        return;
      }
      case schema::kInt64: varint(out, uint64_t(parse_int(tok, at, INT64_MIN, INT64_MAX))); return;
      case schema::kInt32: varint(out, uint64_t(int64_t(parse_int(tok, at, INT32_MIN, INT32_MAX)))); return;
      case schema::kUint64: varint(out, parse_uint(tok, at, UINT64_MAX)); return;
      case schema::kUint32: varint(out, parse_uint(tok, at, UINT32_MAX)); return;
      case schema::kSint32: case schema::kSint64: {
        int64_t v = parse_int(tok, at, f.type == schema::kSint32 ? INT32_MIN : INT64_MIN, f.type == schema::kSint32 ? INT32_MAX : INT64_MAX);
        varint(out, (uint64_t(v) << 1) ^ uint64_t(v >> 63));
        return;
      }
      case schema::kBool: {
        if (tok == "true" || tok == "True" || tok == "t" || tok == "1") varint(out, 1);
        else if (tok == "false" || tok == "False" || tok == "f" || tok == "0") varint(out, 0);
        else fail_at(at, "expected true or false for " + std::string(f.name) + ", found '" + tok + "'");
        return;
      }
      case schema::kEnum: {
        int v;
        const schema::EnumDef& e = schema::enum_at(f.ref);
        if (schema::enum_number(e, tok, &v)) varint(out, uint64_t(int64_t(v)));
        else varint(out, uint64_t(parse_int(tok, at, INT32_MIN, INT32_MAX)));
        return;
      }
      default: fail_at(at, std::string("unsupported field type of ") + f.name);
    }
  }

  // [type.googleapis.com/tensorflow.X] { ... } inside a google.protobuf.Any
  void any_expanded(const MessageDef& m, std::string& out) {
    if (std::strcmp(m.name, "google.protobuf.Any") != 0) fail(std::string("extensions are not supported in ") + m.name);
    close_packed(out);
    ++p_;
    const char* start = p_;
    while (p_ < end_ && *p_ != ']') ++p_;
    if (p_ >= end_) fail("unterminated [type URL]");
    std::string url(start, size_t(p_ - start));
    ++p_;
    std::string type = url.substr(url.rfind('/') + 1);
    const MessageDef* inner = schema::message(type);
    if (!inner) fail_at(start, "cannot expand Any of type " + type + ": not in tfforge's compiled schema");
    skip_space();
    if (p_ < end_ && *p_ == ':') { ++p_; skip_space(); }
    if (p_ >= end_ || (*p_ != '{' && *p_ != '<')) fail("expected '{' after [" + url + "]");
    char close = *p_ == '{' ? '}' : '>';
    ++p_;
    tag(out, 1, wire::kLengthDelimited);
    varint(out, url.size());
    out += url;
    tag(out, 2, wire::kLengthDelimited);
    size_t slot = out.size();
    out.push_back('\0');
    if (++depth_ > kMaxTextDepth) fail("messages nested deeper than " + std::to_string(kMaxTextDepth));
    message(*inner, out, close);
    --depth_;
    fix_length(out, slot);
  }

  // --- tokens ---
  void skip_space() {
    while (p_ < end_) {
      char c = *p_;
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') ++p_;
      else if (c == '#') { while (p_ < end_ && *p_ != '\n') ++p_; }
      else break;
    }
  }

  std::string identifier() {
    const char* s = p_;
    while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) || *p_ == '_')) ++p_;
    return std::string(s, size_t(p_ - s));
  }

  // A number, identifier or signed word (-inf), up to a delimiter.
  std::string token() {
    const char* s = p_;
    while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) || *p_ == '_' || *p_ == '-' || *p_ == '+' || *p_ == '.'))
      ++p_;
    return std::string(s, size_t(p_ - s));
  }

  void string_literal(std::string& out) {
    if (p_ >= end_ || (*p_ != '"' && *p_ != '\'')) fail("expected a quoted string");
    while (p_ < end_ && (*p_ == '"' || *p_ == '\'')) {  // adjacent literals concatenate
      char q = *p_++;
      while (true) {
        const char* s = p_;
        while (p_ < end_ && *p_ != q && *p_ != '\\' && *p_ != '\n') ++p_;
        out.append(s, size_t(p_ - s));
        if (p_ >= end_ || *p_ == '\n') fail("unterminated string literal");
        if (*p_ == q) { ++p_; break; }
        escape(out);
      }
      skip_space();
    }
  }

  void escape(std::string& out) {
    const char* at = p_;
    ++p_;  // backslash
    if (p_ >= end_) fail("unterminated escape");
    char c = *p_++;
    switch (c) {
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'a': out += '\a'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'v': out += '\v'; return;
      case '\\': out += '\\'; return;
      case '\'': out += '\''; return;
      case '"': out += '"'; return;
      case '?': out += '?'; return;
      case 'x': case 'X': {
        int v = 0, n = 0;
        while (n < 2 && p_ < end_ && std::isxdigit(static_cast<unsigned char>(*p_))) { v = v * 16 + hex(*p_++); ++n; }
        if (!n) fail_at(at, "\\x needs hex digits");
        out += char(v);
        return;
      }
      case 'u': case 'U': {
        int digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int i = 0; i < digits; ++i) {
          if (p_ >= end_ || !std::isxdigit(static_cast<unsigned char>(*p_))) fail_at(at, "bad unicode escape");
          cp = cp * 16 + uint32_t(hex(*p_++));
        }
        utf8(out, cp);
        return;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0', n = 1;
          while (n < 3 && p_ < end_ && *p_ >= '0' && *p_ <= '7') { v = v * 8 + (*p_++ - '0'); ++n; }
          out += char(v & 0xff);
          return;
        }
        fail_at(at, std::string("unknown escape \\") + c);
    }
  }

  static int hex(char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10); }

  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xc0 | (cp >> 6)); out += char(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) { out += char(0xe0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3f)); out += char(0x80 | (cp & 0x3f)); }
    else { out += char(0xf0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3f)); out += char(0x80 | ((cp >> 6) & 0x3f)); out += char(0x80 | (cp & 0x3f)); }
  }

  double parse_double(std::string tok, const char* at) {
    std::string low;
    for (char c : tok) low += char(std::tolower(static_cast<unsigned char>(c)));
    bool neg = !low.empty() && low[0] == '-';
    std::string body = neg || (!low.empty() && low[0] == '+') ? low.substr(1) : low;
    if (body == "inf" || body == "infinity") return neg ? -HUGE_VAL : HUGE_VAL;
    if (body == "nan") return std::nan("");
    if (!tok.empty() && (tok.back() == 'f' || tok.back() == 'F')) tok.pop_back();
    errno = 0;
    char* endp = nullptr;
    double d = std::strtod(tok.c_str(), &endp);
    if (endp == tok.c_str() || *endp) fail_at(at, "expected a number, found '" + tok + "'");
    return d;
  }

  int64_t parse_int(const std::string& tok, const char* at, int64_t lo, int64_t hi) {
    errno = 0;
    char* endp = nullptr;
    long long v = std::strtoll(tok.c_str(), &endp, 0);
    if (endp == tok.c_str() || *endp || errno == ERANGE || v < lo || v > hi)
      fail_at(at, "expected an integer in range, found '" + tok + "'");
    return v;
  }

  uint64_t parse_uint(const std::string& tok, const char* at, uint64_t hi) {
    errno = 0;
    char* endp = nullptr;
    if (!tok.empty() && tok[0] == '-') fail_at(at, "expected an unsigned integer, found '" + tok + "'");
    unsigned long long v = std::strtoull(tok.c_str(), &endp, 0);
    if (endp == tok.c_str() || *endp || errno == ERANGE || v > hi) fail_at(at, "expected an unsigned integer in range, found '" + tok + "'");
    return v;
  }

  // --- output ---
  static void varint(std::string& out, uint64_t v) {
    uint8_t tmp[10];
    out.append(reinterpret_cast<char*>(tmp), size_t(wire::put_varint(tmp, v) - tmp));
  }
  static void tag(std::string& out, uint32_t field, wire::WireType t) { varint(out, wire::make_tag(field, t)); }
  static void append(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }

  // `slot` holds one placeholder byte followed by the payload; write the real length there.
  static void fix_length(std::string& out, size_t slot) {
    uint64_t len = out.size() - slot - 1;
    uint8_t tmp[10];
    size_t n = size_t(wire::put_varint(tmp, len) - tmp);
    if (n > 1) out.insert(slot + 1, n - 1, '\0');
    std::memcpy(&out[slot], tmp, n);
  }

  // --- errors ---
  [[noreturn]] void fail(const std::string& msg) { fail_at(p_, msg); }
  [[noreturn]] void fail_at(const char* at, const std::string& msg) {
    if (at > end_) at = end_;
    int64_t line = 1, col = 1;
    for (const char* c = begin_; c < at; ++c) {
      if (*c == '\n') { ++line; col = 1; } else { ++col; }
    }
    Error e("GraphError", "text format, line " + std::to_string(line) + " column " + std::to_string(col) + ": " + msg);
    e.at_path(path_).at_offset(int64_t(at - begin_));
    if (!node_name_.empty()) e.at_node(node_name_);
    throw e;
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  const std::string& path_;
  int depth_ = 0;
  const MessageDef* current_ = nullptr;
  std::string node_name_;
  const FieldDef* open_packed_ = nullptr;
  size_t packed_slot_ = 0;
};

}  // namespace

std::string parse_text(const MessageDef& m, Span text, const std::string& path) {
  std::string out;
  out.reserve(text.size / 3);
  Parser p(text, path);
  p.message(m, out, 0);
  p.done();
  return out;
}

}  // namespace tfforge::graph
