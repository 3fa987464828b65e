#include "graph/fuse_body.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"
#include "graph/names.h"
#include "graph/sink.h"

namespace tfforge::graph::fuse {

using wire::Reader;
using wire::WireType;

namespace {

// FunctionDef fields (tensorflow/core/framework/function.proto) and the OpDef/ArgDef fields of its signature.
enum : uint32_t { kFnSignature = 1, kFnNode = 3, kFnRet = 4, kFnControlRet = 6, kFnArgAttr = 7 };
enum : uint32_t { kOpInputArg = 2 };
enum : uint32_t { kArgName = 1, kArgHandleData = 7 };
enum : int { kFloat = 1, kDouble = 2, kInt32 = 3, kInt64 = 9, kBfloat16 = 14, kHalf = 19 };

double half_to_double(uint16_t h) {
  int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v = exp == 0 ? std::ldexp(mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : std::ldexp(mant + 1024, exp - 25);
  return (h & 0x8000) ? -v : v;
}

double bf16_to_double(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Up to `max` numbers of a float or integer tensor, in order ("repeat the last value" encodings are
// what a short typed list means; callers compare the count with the shape).
std::vector<double> tensor_numbers(const TensorView& t, size_t max) {
  std::vector<double> out;
  auto push = [&](double v) { if (out.size() < max) out.push_back(v); };
  if (t.has_content) {
    const uint8_t* p = t.content.data;
    size_t n = t.content.size;
    auto each = [&](size_t width, auto read) {
      for (size_t i = 0; i + width <= n && out.size() < max; i += width) push(read(p + i));
    };
    switch (t.dtype) {
      case kFloat: each(4, [](const uint8_t* q) { float f; std::memcpy(&f, q, 4); return double(f); }); break;
      case kDouble: each(8, [](const uint8_t* q) { double d; std::memcpy(&d, q, 8); return d; }); break;
      case kInt32: each(4, [](const uint8_t* q) { int32_t v; std::memcpy(&v, q, 4); return double(v); }); break;
      case kInt64: each(8, [](const uint8_t* q) { int64_t v; std::memcpy(&v, q, 8); return double(v); }); break;
      case kHalf: each(2, [](const uint8_t* q) { uint16_t v; std::memcpy(&v, q, 2); return half_to_double(v); }); break;
      case kBfloat16: each(2, [](const uint8_t* q) { uint16_t v; std::memcpy(&v, q, 2); return bf16_to_double(v); }); break;
      default: break;
    }
    return out;
  }
  for (Span s : t.values) {
    Reader r(s);
    bool packed = t.value_wire == wire::kLengthDelimited;
    auto one = [&](Reader& rr) {
      switch (t.value_field) {
        case kTensorFloatVal: { uint32_t b = rr.fixed32(); float f; std::memcpy(&f, &b, 4); push(f); break; }
        case kTensorDoubleVal: { uint64_t b = rr.fixed64(); double d; std::memcpy(&d, &b, 8); push(d); break; }
        case kTensorIntVal: push(double(int32_t(rr.varint()))); break;
        case kTensorInt64Val: push(double(int64_t(rr.varint()))); break;
        case kTensorHalfVal: {
          uint16_t v = uint16_t(rr.varint());
          push(t.dtype == kBfloat16 ? bf16_to_double(v) : half_to_double(v));
          break;
        }
        default: rr.skip(t.value_wire); break;
      }
    };
    if (packed) {
      Reader pr(s);
      while (!pr.done() && out.size() < max) one(pr);
    } else {
      uint32_t f;
      WireType w;
      if (r.next(&f, &w)) one(r);
    }
  }
  return out;
}

std::optional<Shape> output_shapes_entry(Span attr_value, size_t port) {
  Reader r(attr_value);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f != kAttrList || t != wire::kLengthDelimited) {
      r.skip(t);
      continue;
    }
    Reader lr(r.bytes());
    size_t i = 0;
    std::optional<Shape> found;
    while (lr.next(&f, &t)) {
      if (f == kAttrShape && t == wire::kLengthDelimited) {
        Span s = lr.bytes();
        if (i++ == port) found = parse_shape(s);
      } else {
        lr.skip(t);
      }
    }
    if (found && !found->unknown_rank) return found;
  }
  return std::nullopt;
}

Span attr_field(Span attr_value, uint32_t field, WireType* type) {
  Reader r(attr_value);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == field) {
      *type = t;
      if (t == wire::kLengthDelimited) return r.bytes();
      const uint8_t* start = r.cursor();
      r.skip(t);
      return Span{start, size_t(r.cursor() - start)};
    }
    r.skip(t);
  }
  return Span{nullptr, 0};
}

void string_pair(Span entry, std::pair<std::string, std::string>* kv) {
  Reader r(entry);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == 1 && t == wire::kLengthDelimited) kv->first = r.bytes().str();
    else if (f == 2 && t == wire::kLengthDelimited) kv->second = r.bytes().str();
    else r.skip(t);
  }
}

// Ops whose output has the input's shape and (up to rounding to its dtype) value: followed when reading
// constants (tf.nn.gelu casts its float32 constants to float16 under a mixed policy) and shapes.
bool passes_through(const std::string& op) {
  return op == "Identity" || op == "StopGradient" || op == "Snapshot" || op == "Cast";
}

// A Const node's tensor; its bytes may live in `scratch` (a spliced Const keeps its weights in a tail).
std::optional<TensorView> const_tensor(const Node& n, std::string* scratch) {
  const Attr* v = n.attr("value");
  if (!v) return std::nullopt;
  WireType t = wire::kVarint;
  Span s = attr_field(attr_bytes(*v, scratch), kAttrTensor, &t);
  if (!s.data) return std::nullopt;
  return parse_tensor(s);
}

}  // namespace

Body::Body(GraphDef& g, const std::vector<std::string>& keep) : g_(g), nodes_(&g.nodes), keep_(keep) { index(); }

Body::Body(GraphDef& g, size_t fn) : g_(g), nodes_(&own_nodes_), fn_(int64_t(fn)) {
  function_ = g.library.functions[fn].name;
  parse_function();
  index();
}

void Body::parse_function() {
  Span raw = g_.library.functions[size_t(fn_)].raw;
  Source src{g_.source().path + " (function " + function_ + ")", 0};
  try {
    Reader r(raw);
    uint32_t f;
    WireType t = wire::kVarint;
    while (r.next(&f, &t)) {
      if (t != wire::kLengthDelimited) {
        r.skip(t);
        continue;
      }
      Span s = r.bytes();
      if (f == kFnNode) {
        own_nodes_.push_back(parse_node_def(s, uint64_t(s.data - raw.data), src));
      } else if (f == kFnRet || f == kFnControlRet) {
        std::pair<std::string, std::string> kv;
        string_pair(s, &kv);
        (f == kFnRet ? ret_ : control_ret_).push_back(std::move(kv));
      } else if (f == kFnSignature) {
        Reader sr(s);
        while (sr.next(&f, &t)) {
          if (f != kOpInputArg || t != wire::kLengthDelimited) {
            sr.skip(t);
            continue;
          }
          Reader ar(sr.bytes());
          std::string name;
          std::optional<Shape> handle;
          while (ar.next(&f, &t)) {
            if (f == kArgName && t == wire::kLengthDelimited) {
              name = ar.bytes().str();
            } else if (f == kArgHandleData && t == wire::kLengthDelimited) {
              Reader hr(ar.bytes());
              while (hr.next(&f, &t)) {
                if (f == 2 && t == wire::kLengthDelimited) handle = parse_shape(hr.bytes());
                else hr.skip(t);
              }
            } else {
              ar.skip(t);
            }
          }
          taken_.insert(name);
          if (handle && !handle->unknown_rank) arg_handle_shapes_[name] = *handle;
        }
      } else if (f == kFnArgAttr) {
        // map<uint32, ArgAttrs{attr: map<string, AttrValue>}>: the argument's _output_shapes
        Reader er(s);
        uint64_t index = 0;
        Span attrs{nullptr, 0};
        while (er.next(&f, &t)) {
          if (f == 1 && t == wire::kVarint) index = er.varint();
          else if (f == 2 && t == wire::kLengthDelimited) attrs = er.bytes();
          else er.skip(t);
        }
        Reader ar(attrs);
        while (ar.next(&f, &t)) {
          if (f != 1 || t != wire::kLengthDelimited) {
            ar.skip(t);
            continue;
          }
          std::pair<std::string, Span> kv;
          Reader kr(ar.bytes());
          while (kr.next(&f, &t)) {
            if (f == 1 && t == wire::kLengthDelimited) kv.first = kr.bytes().str();
            else if (f == 2 && t == wire::kLengthDelimited) kv.second = kr.bytes();
            else kr.skip(t);
          }
          if (kv.first == "_output_shapes")
            if (auto shape = output_shapes_entry(kv.second, 0)) arg_shapes_["#" + std::to_string(index)] = *shape;
        }
      }
    }
    // arg_attr is keyed by argument position: name them now that the signature is read.
    Reader r2(raw);
    while (r2.next(&f, &t)) {
      if (f != kFnSignature || t != wire::kLengthDelimited) {
        r2.skip(t);
        continue;
      }
      Reader sr(r2.bytes());
      size_t i = 0;
      while (sr.next(&f, &t)) {
        if (f != kOpInputArg || t != wire::kLengthDelimited) {
          sr.skip(t);
          continue;
        }
        Reader ar(sr.bytes());
        while (ar.next(&f, &t)) {
          if (f == kArgName && t == wire::kLengthDelimited) {
            auto it = arg_shapes_.find("#" + std::to_string(i));
            std::string name = ar.bytes().str();
            if (it != arg_shapes_.end()) arg_shapes_[name] = it->second;
          } else {
            ar.skip(t);
          }
        }
        ++i;
      }
    }
  } catch (const wire::ParseError& e) {
    throw Error("WireFormatError", std::string("malformed FunctionDef: ") + e.what()).at_path(src.path);
  }
}

void Body::index() {
  const auto& nodes = *nodes_;
  by_name_.clear();
  by_name_.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    by_name_.emplace(nodes[i].name, i);
    taken_.insert(nodes[i].name);
  }
  uses_.assign(nodes.size(), {});
  removed_.assign(nodes.size(), false);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (auto& in : nodes[i].inputs) {
      bool control = is_control_input(in);
      int64_t p = control ? [&] {
        auto it = by_name_.find(in.substr(1));
        return it == by_name_.end() ? int64_t(-1) : int64_t(it->second);
      }() : producer(in);
      if (p >= 0) uses_[size_t(p)].push_back({int64_t(i), control, {}});
    }
  auto external = [&](const std::string& name, bool control, const std::string& what) {
    auto it = by_name_.find(name);
    if (it != by_name_.end()) uses_[it->second].push_back({-1, control, what});
  };
  for (auto& k : keep_) external(input_node_name(k), false, "the requested output '" + k + "'");
  for (auto& [k, v] : ret_) external(input_node_name(v), false, "the function output '" + k + "'");
  for (auto& [k, v] : control_ret_) external(v, true, "the function's control output '" + k + "'");
}

std::vector<std::string> Body::data_inputs(size_t i) const {
  std::vector<std::string> out;
  for (auto& in : node(i).inputs)
    if (!is_control_input(in)) out.push_back(in);
  return out;
}

int64_t Body::producer(const std::string& ref) const {
  if (is_control_input(ref)) return -1;
  size_t colon = ref.find(':');
  if (fn_ >= 0 && colon == std::string::npos) return -1;  // a function argument
  auto it = by_name_.find(ref.substr(0, colon));
  return it == by_name_.end() ? -1 : int64_t(it->second);
}

std::string Body::key(const std::string& ref) const {
  if (fn_ < 0 && ref.find(':') == std::string::npos) return ref + ":0";
  return ref;
}

std::string Body::display(const std::string& ref) const {
  int64_t p = producer(ref);
  return p >= 0 ? node(size_t(p)).name : ref;
}

int Body::type_attr(size_t i, const char* key) const {
  const Attr* a = node(i).attr(key);
  return a ? attr_type_value(a->value) : -1;
}

std::optional<bool> Body::bool_attr(size_t i, const char* key) const {
  const Attr* a = node(i).attr(key);
  if (!a) return std::nullopt;
  WireType t = wire::kVarint;
  Span s = attr_field(a->value, kAttrB, &t);
  if (!s.data || t != wire::kVarint) return std::nullopt;
  Reader r(s);
  return r.varint() != 0;
}

std::optional<std::string> Body::string_attr(size_t i, const char* key) const {
  const Attr* a = node(i).attr(key);
  if (!a) return std::nullopt;
  WireType t = wire::kVarint;
  Span s = attr_field(a->value, kAttrS, &t);
  if (t != wire::kLengthDelimited) return std::nullopt;
  return s.str();
}

std::optional<float> Body::float_attr(size_t i, const char* key) const {
  const Attr* a = node(i).attr(key);
  if (!a) return std::nullopt;
  WireType t = wire::kVarint;
  Span s = attr_field(a->value, kAttrF, &t);
  if (!s.data || t != wire::kFixed32) return std::nullopt;
  Reader r(s);
  uint32_t bits = r.fixed32();
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::optional<int64_t> Body::int_attr(size_t i, const char* key) const {
  const Attr* a = node(i).attr(key);
  if (!a) return std::nullopt;
  WireType t = wire::kLengthDelimited;
  Span s = attr_field(a->value, kAttrI, &t);
  if (!s.data || t != wire::kVarint) return std::nullopt;
  Reader r(s);
  return int64_t(r.varint());
}

std::optional<Shape> Body::shape(const std::string& ref, int depth) const {
  if (depth > 8) return std::nullopt;
  int64_t p = producer(ref);
  if (p < 0) {
    if (fn_ < 0) return std::nullopt;
    auto it = arg_shapes_.find(ref);
    if (it != arg_shapes_.end()) return it->second;
    return std::nullopt;
  }
  const Node& n = node(size_t(p));
  if (const Attr* a = n.attr("_output_shapes")) {
    size_t port = 0;
    size_t colon = ref.rfind(':');
    if (colon != std::string::npos) port = size_t(std::strtoull(ref.c_str() + colon + 1, nullptr, 10));
    if (fn_ < 0) {
      if (auto s = output_shapes_entry(a->value, port)) return s;
    } else if (port == 0 && ref.find(':') != ref.rfind(':')) {
      // "node:arg:0" is the first output only for single-output ops: trust a one-entry list
      auto one = output_shapes_entry(a->value, 0);
      if (one && !output_shapes_entry(a->value, 1)) return one;
    }
  }
  if (n.op == "Const") {
    std::string scratch;  // a spliced Const keeps its weights in a tail
    if (auto tv = const_tensor(n, &scratch)) return tv->shape;
    return std::nullopt;
  }
  if (n.op == "Placeholder" || n.op == "VariableV2" || n.op == "VarHandleOp" || n.op == "Variable") {
    if (const Attr* a = n.attr("shape")) {
      WireType t = wire::kVarint;
      Span s = attr_field(a->value, kAttrShape, &t);
      if (t == wire::kLengthDelimited) {
        Shape sh = parse_shape(s);
        if (!sh.unknown_rank) return sh;
      }
    }
    return std::nullopt;
  }
  auto ins = data_inputs(size_t(p));
  if ((passes_through(n.op) || n.op == "ReadVariableOp") && !ins.empty()) {
    if (n.op == "ReadVariableOp" && fn_ >= 0 && producer(ins[0]) < 0) {
      auto it = arg_handle_shapes_.find(ins[0]);
      if (it != arg_handle_shapes_.end()) return it->second;
      return std::nullopt;
    }
    return shape(ins[0], depth + 1);
  }
  if (n.op == "Reshape" && ins.size() == 2) {
    auto dims = ints(ins[1]);
    if (dims && std::count(dims->begin(), dims->end(), -1) <= 1 &&
        std::all_of(dims->begin(), dims->end(), [](int64_t d) { return d >= -1; })) {  // -1: inferred
      Shape s;
      s.dims = *dims;
      return s;
    }
  }
  return std::nullopt;
}

std::optional<TensorView> Body::constant(const std::string& ref, std::string* scratch) const {
  int64_t p = producer(ref);
  for (int hops = 0; p >= 0 && passes_through(node(size_t(p)).op) && hops < 8; ++hops) {
    auto ins = data_inputs(size_t(p));
    if (ins.empty()) return std::nullopt;
    p = producer(ins[0]);
  }
  if (p < 0 || node(size_t(p)).op != "Const") return std::nullopt;
  return const_tensor(node(size_t(p)), scratch);
}

std::optional<double> Body::scalar(const std::string& ref, int* dtype) const {
  std::string scratch;
  auto found = constant(ref, &scratch);
  if (!found) return std::nullopt;
  const TensorView& tv = *found;
  if (tv.shape.unknown_rank || tv.shape.dims.size() > 1 || tv.shape.num_elements() != 1) return std::nullopt;
  auto values = tensor_numbers(tv, 1);
  if (values.empty()) return std::nullopt;
  if (dtype) *dtype = tv.dtype;
  return values[0];
}

std::optional<std::vector<int64_t>> Body::ints(const std::string& ref) const {
  std::string scratch;
  auto found = constant(ref, &scratch);
  if (!found) return std::nullopt;
  const TensorView& tv = *found;
  int64_t n = tv.shape.num_elements();
  if ((tv.dtype != kInt32 && tv.dtype != kInt64) || n < 0 || n > 64) return std::nullopt;
  auto values = tensor_numbers(tv, size_t(n));
  if (values.empty() && n > 0) return std::nullopt;
  while (values.size() < size_t(n)) values.push_back(values.back());
  return std::vector<int64_t>(values.begin(), values.end());
}

bool Body::is_param(const std::string& ref, int depth) const {
  if (depth > 8) return false;
  int64_t p = producer(ref);
  if (p < 0) return fn_ >= 0 && ref.find(':') == std::string::npos;  // a function argument
  const Node& n = node(size_t(p));
  static const std::unordered_set<std::string> sources = {
      "Const", "VariableV2", "Variable", "VarHandleOp", "Placeholder", "PlaceholderWithDefault"};
  static const std::unordered_set<std::string> through = {
      "Identity", "ReadVariableOp", "Reshape", "Cast", "StopGradient", "ExpandDims", "Squeeze", "Snapshot",
      "Add", "AddV2", "Sub", "Mul", "RealDiv", "Neg"};
  if (sources.count(n.op)) return true;
  if (!through.count(n.op)) return false;
  for (auto& in : data_inputs(size_t(p)))
    if (!is_param(in, depth + 1)) return false;
  return true;
}

std::string Body::ref_to(const std::string& node_name, const std::string& arg) const {
  return fn_ >= 0 ? node_name + ":" + arg + ":0" : node_name;
}

std::string Body::fresh_name(const std::string& base) {
  std::string name = base;
  for (int i = 1; taken_.count(name); ++i) name = base + "_" + std::to_string(i);
  taken_.insert(name);
  return name;
}

void Body::replace(size_t i, Node fused, const std::string& out_arg, std::vector<Node> helpers) {
  out_arg_[node(i).name] = out_arg;
  replaced_[i] = {std::move(fused), std::move(helpers)};
  edited_ = true;
}

void Body::commit() {
  if (!edited_) return;
  auto& nodes = *nodes_;
  // Constants that only removed nodes read go too (not those the fused nodes read).
  std::unordered_set<std::string> read;
  for (auto& [i, r] : replaced_) {
    for (auto& in : r.first.inputs) read.insert(input_node_name(in));
    for (auto& h : r.second)
      for (auto& in : h.inputs) read.insert(input_node_name(in));
  }
  // Side-effect-free nodes whose every consumer went (the shape arithmetic of a removed Reshape, say).
  static const std::unordered_set<std::string> pure = {
      "Const", "Shape", "StridedSlice", "Prod", "Pack", "Fill", "Identity", "Cast", "Reshape", "ConcatV2",
      "GatherV2", "Range", "Size", "Rank", "StopGradient"};
  std::vector<size_t> work;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (removed_[i])
      for (auto& in : nodes[i].inputs)
        if (auto it = by_name_.find(input_node_name(in)); it != by_name_.end()) work.push_back(it->second);
  while (!work.empty()) {
    size_t i = work.back();
    work.pop_back();
    if (removed_[i] || replaced_.count(i) || !pure.count(nodes[i].op) || uses_[i].empty() || read.count(nodes[i].name))
      continue;
    bool dead = true;
    for (auto& u : uses_[i])
      if (u.node < 0 || !removed_[size_t(u.node)]) dead = false;
    if (!dead) continue;
    removed_[i] = true;
    for (auto& in : nodes[i].inputs)
      if (auto it = by_name_.find(input_node_name(in)); it != by_name_.end()) work.push_back(it->second);
  }
  auto rewrite = [&](std::string& ref) {
    if (fn_ < 0 || is_control_input(ref)) return false;
    size_t colon = ref.find(':');
    if (colon == std::string::npos) return false;
    auto it = out_arg_.find(ref.substr(0, colon));
    if (it == out_arg_.end()) return false;
    ref = ref.substr(0, colon) + ":" + it->second + ":0";
    return true;
  };
  std::vector<Node> out;
  out.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (removed_[i]) continue;
    auto r = replaced_.find(i);
    if (r != replaced_.end()) {
      for (auto& h : r->second.second) out.push_back(std::move(h));
      out.push_back(std::move(r->second.first));
      continue;
    }
    Node n = std::move(nodes[i]);
    for (auto& in : n.inputs)
      if (rewrite(in)) n.dirty = true;
    out.push_back(std::move(n));
  }
  nodes = std::move(out);
  if (fn_ < 0) {
    g_.invalidate_index();
    return;
  }
  for (auto& [k, v] : ret_) rewrite(v);
  // Re-encode the FunctionDef: every field as it was, the nodes where the first node_def stood, ret
  // entries with rewritten values.
  Span raw = g_.library.functions[size_t(fn_)].raw;
  std::string bytes;
  StringSink sink(&bytes);
  Reader r(raw);
  uint32_t f;
  WireType t;
  bool nodes_written = false;
  size_t ret_i = 0;
  for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
    r.skip(t);
    if (f == kFnNode && t == wire::kLengthDelimited) {
      if (!nodes_written) {
        for (auto& n : nodes) sink.string_field(kFnNode, encode_node_def(n));
        nodes_written = true;
      }
    } else if (f == kFnRet && t == wire::kLengthDelimited && ret_i < ret_.size()) {
      std::string entry;
      StringSink es(&entry);
      es.string_field(1, ret_[ret_i].first);
      es.string_field(2, ret_[ret_i].second);
      ++ret_i;
      sink.string_field(kFnRet, entry);
    } else {
      sink.put(start, size_t(r.cursor() - start));
    }
  }
  if (!nodes_written)
    for (auto& n : nodes) sink.string_field(kFnNode, encode_node_def(n));
  g_.library.functions[size_t(fn_)].raw = g_.own(std::move(bytes));
}

}  // namespace tfforge::graph::fuse
