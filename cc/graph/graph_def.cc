#include "graph/graph_def.h"

#include <cstring>
#include <functional>
#include <string_view>

#include "error.h"
#include "graph/sink.h"

namespace tfforge::graph {

using wire::Reader;
using wire::WireType;

namespace {

// GraphDef / NodeDef / FunctionDefLibrary field numbers (tensorflow/core/framework/*.proto).
enum : uint32_t { kGraphNode = 1, kGraphLibrary = 2 };
enum : uint32_t { kNodeName = 1, kNodeOp = 2, kNodeInput = 3, kNodeDevice = 4, kNodeAttr = 5 };
enum : uint32_t { kLibFunction = 1, kLibGradient = 2 };

const char* wire_type_name(WireType t) {
  switch (t) {
    case wire::kVarint: return "varint";
    case wire::kFixed64: return "fixed64";
    case wire::kLengthDelimited: return "length-delimited";
    case wire::kFixed32: return "fixed32";
    default: return "group";
  }
}

[[noreturn]] void wire_error(const Source& src, uint64_t offset, const std::string& msg, const std::string& node = {}) {
  Error e("WireFormatError", msg);
  e.at_path(src.path).at_offset(int64_t(offset));
  if (!node.empty()) e.at_node(node);
  throw e;
}

// `at` is the offset of the field's tag.
void expect_bytes(const Source& src, uint64_t at, WireType t, const char* what, const std::string& node = {}) {
  if (t != wire::kLengthDelimited)
    wire_error(src, at, std::string(what) + " has wire type " + wire_type_name(t) + ", expected length-delimited", node);
}

Span span_from(const uint8_t* a, const uint8_t* b) { return Span{a, size_t(b - a)}; }

std::string utf8_field(Reader& r, const Source& src, const char* what, const std::string& node) {
  uint64_t at = r.offset();
  Span s = r.bytes();
  if (!wire::is_utf8(s)) wire_error(src, at, std::string(what) + " is not valid UTF-8", node);
  return s.str();
}

Node parse_node(Span raw, uint64_t base, const Source& src) {
  Node n;
  n.raw = raw;
  Reader r(raw, base);
  uint32_t f;
  WireType t;
  try {
    for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
      const uint64_t at = base + uint64_t(start - raw.data);
      switch (f) {
        case kNodeName: expect_bytes(src, at, t, "NodeDef.name", n.name); n.name = utf8_field(r, src, "NodeDef.name", n.name); break;
        case kNodeOp: expect_bytes(src, at, t, "NodeDef.op", n.name); n.op = utf8_field(r, src, "NodeDef.op", n.name); break;
        case kNodeInput: expect_bytes(src, at, t, "NodeDef.input", n.name); n.inputs.push_back(utf8_field(r, src, "NodeDef.input", n.name)); break;
        case kNodeDevice: expect_bytes(src, at, t, "NodeDef.device", n.name); n.device = utf8_field(r, src, "NodeDef.device", n.name); break;
        case kNodeAttr: {
          expect_bytes(src, at, t, "NodeDef.attr", n.name);
          Span entry = r.bytes();
          Reader er(entry, r.offset() - entry.size);
          Attr a;
          uint32_t ef;
          WireType et;
          for (uint64_t eat = er.offset(); er.next(&ef, &et); eat = er.offset()) {
            if (ef == 1) { expect_bytes(src, eat, et, "NodeDef.attr key", n.name); a.key = utf8_field(er, src, "NodeDef.attr key", n.name); }
            else if (ef == 2) { expect_bytes(src, eat, et, "NodeDef.attr value", n.name); a.value = er.bytes(); }
            else er.skip(et);
          }
          n.attrs.push_back(std::move(a));
          break;
        }
        default:
          r.skip(t);
          n.extra.push_back(span_from(start, r.cursor()));
      }
    }
  } catch (const wire::ParseError& e) {
    wire_error(src, e.offset, std::string("malformed NodeDef: ") + e.what(), n.name);
  }
  return n;
}

std::string function_name(Span fdef, uint64_t base, const Source& src) {
  try {
    Reader r(fdef, base);
    uint32_t f;
    WireType t;
    while (r.next(&f, &t)) {
      if (f == 1 && t == wire::kLengthDelimited) {  // signature: OpDef
        Span sig = r.bytes();
        Reader sr(sig, r.offset() - sig.size);
        while (sr.next(&f, &t)) {
          if (f == 1 && t == wire::kLengthDelimited) return utf8_field(sr, src, "FunctionDef name", {});
          sr.skip(t);
        }
        return {};
      }
      r.skip(t);
    }
  } catch (const wire::ParseError& e) {
    wire_error(src, e.offset, std::string("malformed FunctionDef: ") + e.what());
  }
  return {};
}

Library parse_library(Span raw, uint64_t base, const Source& src) {
  Library lib;
  lib.present = true;
  Reader r(raw, base);
  uint32_t f;
  WireType t;
  try {
    for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
      const uint64_t at = base + uint64_t(start - raw.data);
      if (f == kLibFunction) {
        expect_bytes(src, at, t, "FunctionDefLibrary.function");
        Span fd = r.bytes();
        lib.functions.push_back({function_name(fd, r.offset() - fd.size, src), fd});
      } else if (f == kLibGradient) {
        expect_bytes(src, at, t, "FunctionDefLibrary.gradient");
        lib.gradients.push_back(r.bytes());
      } else {
        r.skip(t);
        lib.extra.push_back(span_from(start, r.cursor()));
      }
    }
  } catch (const wire::ParseError& e) {
    wire_error(src, e.offset, std::string("malformed FunctionDefLibrary: ") + e.what());
  }
  return lib;
}

uint64_t node_size(const Node& n) {
  if (!n.dirty) return n.raw.size;
  uint64_t s = 0;
  if (!n.name.empty()) s += field_size(kNodeName, n.name.size());
  if (!n.op.empty()) s += field_size(kNodeOp, n.op.size());
  for (auto& in : n.inputs) s += field_size(kNodeInput, in.size());
  if (!n.device.empty()) s += field_size(kNodeDevice, n.device.size());
  for (auto& a : n.attrs) s += field_size(kNodeAttr, field_size(1, a.key.size()) + field_size(2, a.size()));
  for (auto& e : n.extra) s += e.size;
  return s;
}

void write_node(Sink& out, const Node& n) {
  if (!n.dirty) {
    out.put(n.raw);
    return;
  }
  if (!n.name.empty()) out.string_field(kNodeName, n.name);
  if (!n.op.empty()) out.string_field(kNodeOp, n.op);
  for (auto& in : n.inputs) out.string_field(kNodeInput, in);
  if (!n.device.empty()) out.string_field(kNodeDevice, n.device);
  for (auto& a : n.attrs) {
    out.header(kNodeAttr, field_size(1, a.key.size()) + field_size(2, a.size()));
    out.string_field(1, a.key);
    out.header(2, a.size());
    out.put(a.value.data, a.value.size);
    if (a.stored)
      out.put_stored(*a.stored);
    else if (a.tail.size)
      out.put(a.tail);
  }
  for (auto& e : n.extra) out.put(e);
}

uint64_t library_body_size(const Library& lib) {
  uint64_t s = 0;
  for (auto& f : lib.functions) s += field_size(kLibFunction, f.raw.size);
  for (auto& g : lib.gradients) s += field_size(kLibGradient, g.size);
  for (auto& e : lib.extra) s += e.size;
  return s;
}

}  // namespace

const Attr* Node::attr(const std::string& key) const {
  for (auto& a : attrs)
    if (a.key == key) return &a;
  return nullptr;
}

void Node::set_attr(const std::string& key, Span value) {
  dirty = true;
  for (auto& a : attrs)
    if (a.key == key) {
      a.value = value;
      a.tail = Span{};
      a.stored.reset();
      return;
    }
  attrs.push_back({key, value, Span{}});
}

Span attr_bytes(const Attr& a, std::string* scratch) {
  if (!a.tail.size) return a.value;
  scratch->assign(reinterpret_cast<const char*>(a.value.data), a.value.size);
  if (a.stored)
    a.stored->append_to(scratch);
  else
    scratch->append(reinterpret_cast<const char*>(a.tail.data), a.tail.size);
  return Span{reinterpret_cast<const uint8_t*>(scratch->data()), scratch->size()};
}

bool same_tail(const Attr& a, const Attr& b) {
  if (a.stored || b.stored) return a.stored && b.stored && a.stored->same_range(*b.stored);
  return a.tail.size == b.tail.size && (!a.tail.size || std::memcmp(a.tail.data, b.tail.data, a.tail.size) == 0);
}

size_t tail_hash(const Attr& a) {
  if (a.stored) return std::hash<const void*>()(&a.stored->file()) ^ std::hash<uint64_t>()(a.stored->offset() * 31 + a.size());
  return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char*>(a.tail.data), a.tail.size));
}

bool Node::erase_attr(const std::string& key) {
  for (auto it = attrs.begin(); it != attrs.end(); ++it)
    if (it->key == key) {
      attrs.erase(it);
      dirty = true;
      return true;
    }
  return false;
}

Node parse_node_def(Span raw, uint64_t base, const Source& src) { return parse_node(raw, base, src); }

std::string encode_node_def(const Node& n) {
  std::string out;
  StringSink sink(&out);
  write_node(sink, n);
  return out;
}

std::string input_node_name(const std::string& input) {
  size_t b = is_control_input(input) ? 1 : 0;
  size_t colon = input.find(':', b);
  return input.substr(b, colon == std::string::npos ? std::string::npos : colon - b);
}

GraphDef GraphDef::parse(Span bytes, std::shared_ptr<const void> keep, Source source) {
  GraphDef g;
  g.source_ = source;
  if (keep) g.keep_.push_back(std::move(keep));
  Reader r(bytes, source.base);
  uint32_t f;
  WireType t;
  try {
    for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
      const uint64_t at = source.base + uint64_t(start - bytes.data);
      if (f == kGraphNode) {
        expect_bytes(source, at, t, "GraphDef.node");
        Span raw = r.bytes();
        g.nodes.push_back(parse_node(raw, source.base + uint64_t(raw.data - bytes.data), source));
      } else if (f == kGraphLibrary) {
        expect_bytes(source, at, t, "GraphDef.library");
        Span raw = r.bytes();
        g.library = parse_library(raw, source.base + uint64_t(raw.data - bytes.data), source);
      } else {
        r.skip(t);
        g.top_extra_.push_back(span_from(start, r.cursor()));
      }
    }
  } catch (const wire::ParseError& e) {
    std::string after = g.nodes.empty() ? std::string() : " (after node '" + g.nodes.back().name + "')";
    wire_error(source, e.offset, std::string("malformed GraphDef: ") + e.what() + after);
  }
  return g;
}

namespace {
void write_graph(Sink& out, const std::vector<Node>& nodes, const Library& lib, const std::vector<Span>& extra) {
  for (auto& n : nodes) {
    out.header(kGraphNode, node_size(n));
    write_node(out, n);
  }
  if (lib.present) {
    out.header(kGraphLibrary, library_body_size(lib));
    for (auto& fn : lib.functions) out.bytes_field(kLibFunction, fn.raw.data, fn.raw.size);
    for (auto& gr : lib.gradients) out.bytes_field(kLibGradient, gr.data, gr.size);
    for (auto& e : lib.extra) out.put(e);
  }
  for (auto& e : extra) out.put(e);
}
}  // namespace

uint64_t GraphDef::encoded_size() const {
  uint64_t s = 0;
  for (auto& n : nodes) s += field_size(kGraphNode, node_size(n));
  if (library.present) s += field_size(kGraphLibrary, library_body_size(library));
  for (auto& e : top_extra_) s += e.size;
  return s;
}

void GraphDef::encode_to(uint8_t* out) const {
  MemorySink sink(out);
  write_graph(sink, nodes, library, top_extra_);
}

std::string GraphDef::to_string() const {
  std::string s(encoded_size(), '\0');
  encode_to(reinterpret_cast<uint8_t*>(s.data()));
  return s;
}

void GraphDef::write_file(const std::string& path, std::optional<bool> direct) const {
  try {
    // Weights streamed from files (stored tails) go out with direct I/O when there are many: no page
    // cache is allocated for the output (see AtomicFileSink::AtomicFileSink).
    uint64_t streamed = 0;
    for (auto& n : nodes)
      for (auto& a : n.attrs)
        if (a.stored) streamed += a.stored->size();
    AtomicFileSink sink(path, direct.value_or(streamed >= AtomicFileSink::kDirectThreshold));
    sink.reserve(encoded_size());
    write_graph(sink, nodes, library, top_extra_);
    check_sources();  // never commit bytes read from a file that changed meanwhile
    for (auto& n : nodes)
      for (auto& a : n.attrs)
        if (a.stored) a.stored->check();
    sink.commit();
  } catch (...) {
    check_sources();
    throw;
  }
}

Span GraphDef::own(std::string bytes) {
  auto p = std::make_shared<std::string>(std::move(bytes));
  Span s{reinterpret_cast<const uint8_t*>(p->data()), p->size()};
  keep_.push_back(std::move(p));
  return s;
}

const std::unordered_map<std::string, size_t>& GraphDef::index() const {
  if (!index_valid_ || index_.size() > nodes.size()) {
    index_.clear();
    index_.reserve(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) index_.emplace(nodes[i].name, i);
    index_valid_ = true;
  }
  return index_;
}

int64_t GraphDef::find(const std::string& name) const {
  auto& idx = index();
  auto it = idx.find(name);
  return it == idx.end() ? -1 : int64_t(it->second);
}

}  // namespace tfforge::graph
