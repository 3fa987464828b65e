#include "graph/fuse.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <unordered_set>

#include "graph/sink.h"
#include "graph/tensor.h"

namespace tfforge::graph::fuse {

namespace {

bool mentions(Span raw, const std::vector<std::string>& words) {
  const char* begin = reinterpret_cast<const char*>(raw.data);
  const char* end = begin + raw.size;
  for (auto& w : words)
    if (std::search(begin, end, w.begin(), w.end()) != end) return true;
  return false;
}

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.dims.size(); ++i) out += (i ? ", " : "") + std::to_string(s.dims[i]);
  return out + "]";
}

void run_body(Body& b, const char* pattern, const std::unordered_set<std::string>& anchors, Matcher match,
              std::vector<Site>* report) {
  std::vector<bool> claimed(b.size(), false);
  for (size_t i = 0; i < b.size(); ++i) {
    if (!anchors.count(b.node(i).op) || claimed[i]) continue;
    Plan plan;
    std::string reason;
    bool ok = match(b, i, claimed, &plan, &reason);
    if (!ok && reason.empty()) continue;
    if (ok)
      for (auto& r : plan.rewired)
        if (claimed[r.first]) ok = false;
    if (ok)
      for (size_t n : plan.nodes)
        if (claimed[n]) {
          ok = false;
          reason = "overlaps a site fused already (node '" + b.node(n).name + "')";
          break;
        }
    Site site{pattern, b.function(), b.node(i).name, {}, ok, ok ? "" : reason, {}};
    if (ok) {
      const Node& out = b.node(plan.output);
      std::unordered_set<size_t> members(plan.nodes.begin(), plan.nodes.end());
      std::vector<std::string> inputs = plan.inputs;
      std::unordered_set<std::string> controls;
      for (size_t n : plan.nodes)
        for (auto& in : b.node(n).inputs) {
          if (!is_control_input(in)) continue;
          auto it = std::find_if(members.begin(), members.end(),
                                 [&](size_t m) { return b.node(m).name == in.substr(1); });
          if (it == members.end() && controls.insert(in).second) inputs.push_back(in);
        }
      Node fused = make_node(b, out.name, plan.op, std::move(inputs), plan.attrs);
      fused.device = out.device;
      for (auto& h : plan.helpers)
        if (h.device.empty()) h.device = out.device;
      site.output = out.name;
      site.detail = plan.detail;
      for (size_t n : plan.nodes) {
        claimed[n] = true;
        if (n != plan.output) b.remove(n);
      }
      b.replace(plan.output, std::move(fused), plan.out_arg, std::move(plan.helpers));
      for (auto& r : plan.rewired) {
        claimed[r.first] = true;
        r.second.first.device = b.node(r.first).device;
        b.replace(r.first, std::move(r.second.first), r.second.second, {});
      }
    }
    if (report) report->push_back(std::move(site));
  }
  b.commit();
}

}  // namespace

Node make_node(Body& b, const std::string& name, const std::string& op, std::vector<std::string> inputs,
               std::vector<std::pair<std::string, std::string>> attrs) {
  Node n;
  n.dirty = true;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  for (auto& [k, v] : attrs) n.attrs.push_back({k, b.graph().own(std::move(v))});
  return n;
}

void run_fusion(GraphDef& g, const PassContext& ctx, const char* pattern, const std::vector<std::string>& anchors,
                Matcher match, std::vector<Site>* report) {
  std::unordered_set<std::string> ops(anchors.begin(), anchors.end());
  {
    Body top(g, ctx.outputs);
    run_body(top, pattern, ops, match, report);
  }
  for (size_t f = 0; f < g.library.functions.size(); ++f) {
    if (!mentions(g.library.functions[f].raw, anchors)) continue;  // no anchor op: nothing to parse
    Body body(g, f);
    run_body(body, pattern, ops, match, report);
  }
}

std::string type_attr_value(int dtype) { return encode_type_attr(dtype); }

std::string float_attr_value(float v) {
  std::string s(5, '\0');
  s[0] = char((kAttrF << 3) | wire::kFixed32);
  std::memcpy(&s[1], &v, 4);
  return s;
}

std::string bool_attr_value(bool v) {
  std::string s(2, '\0');
  s[0] = char((kAttrB << 3) | wire::kVarint);
  s[1] = char(v ? 1 : 0);
  return s;
}

std::string int_attr_value(int64_t v) {
  std::string s;
  StringSink sink(&s);
  sink.tag(kAttrI, wire::kVarint);
  sink.varint(uint64_t(v));
  return s;
}

std::string string_attr_value(const std::string& v) {
  std::string s;
  StringSink sink(&s);
  sink.bytes_field(kAttrS, v.data(), v.size());
  return s;
}

std::string int32_vector(Body& b, const std::string& name, const std::vector<int32_t>& values,
                         std::vector<Node>* helpers, const std::string& after, bool scalar) {
  std::string n = b.fresh_name(name);
  std::vector<int64_t> dims;
  if (!scalar) dims.push_back(int64_t(values.size()));
  std::vector<std::string> inputs;
  if (!after.empty()) inputs.push_back("^" + after);
  helpers->push_back(make_node(b, n, "Const", std::move(inputs),
                               {{"dtype", encode_type_attr(3)},
                                {"value", encode_tensor_attr(3, dims, values.data(), values.size() * 4)}}));
  return b.ref_to(n, "output");
}

const char* dtype_name(int dtype) {
  switch (dtype) {
    case 1: return "float32";
    case 2: return "float64";
    case 14: return "bfloat16";
    case 19: return "float16";
    case -1: return "unknown";
    default: return "a non-float type";
  }
}

bool fusable_dtype(int dtype) { return dtype == 1 || dtype == 19 || dtype == 14; }

std::string check_consumers(const Body& b, const std::vector<size_t>& cone, size_t output) {
  std::unordered_set<size_t> in(cone.begin(), cone.end());
  for (size_t n : cone) {
    if (n == output) continue;
    for (auto& u : b.uses(n)) {
      if (u.node < 0) return "intermediate '" + b.node(n).name + "' is also " + u.external;
      if (!in.count(size_t(u.node)))
        return "intermediate '" + b.node(n).name + "' has an extra consumer '" + b.node(size_t(u.node)).name + "'" +
               (u.control ? " (a control input)" : "");
    }
  }
  return {};
}

std::string check_last_axis(const Body& b, const std::string& x, const std::string& axes_ref) {
  auto axes = b.ints(axes_ref);
  if (!axes) return "the reduction axes '" + b.display(axes_ref) + "' are not an integer constant";
  if (axes->size() != 1) {
    std::string list;
    for (size_t i = 0; i < axes->size(); ++i) list += (i ? ", " : "") + std::to_string((*axes)[i]);
    return "reduces over axes [" + list + "], not over the last axis alone";
  }
  int64_t a = (*axes)[0];
  if (a == -1) return {};
  auto s = b.shape(x);
  if (!s) return "reduces over axis " + std::to_string(a) + " and the rank of '" + b.display(x) + "' is unknown";
  int64_t rank = int64_t(s->dims.size());
  if (a == rank - 1) return {};
  return "reduces over axis " + std::to_string(a) + ", not the last axis (x '" + b.display(x) + "' has rank " +
         std::to_string(rank) + ")";
}

int64_t last_dim(const Body& b, const std::string& x) {
  auto s = b.shape(x);
  // past 2^24 it is a malformed graph, not a channel count (and would be a ones/zeros vector that size)
  if (!s || s->dims.empty() || s->dims.back() < 0 || s->dims.back() > (int64_t(1) << 24)) return -1;
  return s->dims.back();
}

bool channel_vector(Body& b, const std::string& what, const std::string& ref, const std::string& x, int dtype,
                    const std::string& scope, std::string* out, std::vector<Node>* helpers, std::string* reason) {
  std::string name = what + " '" + b.display(ref) + "'";
  if (!b.is_param(ref)) {
    *reason = name + " is not computed from constants and variables alone";
    return false;
  }
  auto s = b.shape(ref);
  if (!s) {
    *reason = name + " has no shape the graph states";
    return false;
  }
  if (s->dims.empty()) {
    *reason = name + " is a scalar, not a vector over the last axis";
    return false;
  }
  for (size_t i = 0; i + 1 < s->dims.size(); ++i)
    if (s->dims[i] != 1) {
      *reason = name + " has shape " + shape_text(*s) + ", not a vector over the last axis";
      return false;
    }
  int64_t c = s->dims.back();
  if (c < 0 || c > INT32_MAX) {
    *reason = name + " has an unknown or impossible size " + std::to_string(c);
    return false;
  }
  auto xs = b.shape(x);
  if (xs) {
    if (xs->dims.size() < s->dims.size()) {
      *reason = name + " has rank " + std::to_string(s->dims.size()) + ", more than x's " +
                std::to_string(xs->dims.size()) + " (it would broadcast x)";
      return false;
    }
    if (!xs->dims.empty() && xs->dims.back() >= 0 && xs->dims.back() != c) {
      *reason = name + " has " + std::to_string(c) + " elements but x's last axis has " +
                std::to_string(xs->dims.back());
      return false;
    }
  } else if (s->dims.size() > 1) {
    *reason = name + " has rank " + std::to_string(s->dims.size()) + " and the rank of x is unknown";
    return false;
  }
  if (s->dims.size() == 1) {
    *out = ref;
    return true;
  }
  int64_t p = b.producer(ref);
  if (p >= 0 && b.node(size_t(p)).op == "Reshape" && !b.data_inputs(size_t(p)).empty()) {
    auto ins = b.data_inputs(size_t(p));
    auto inner = b.shape(ins[0]);
    if (inner && inner->dims.size() == 1 && inner->dims[0] == c && b.is_param(ins[0])) {
      *out = ins[0];
      return true;
    }
  }
  std::string cname = b.fresh_name(scope + "/tfforge_" + what + "_shape");
  int32_t dim = int32_t(c);
  helpers->push_back(make_node(b, cname, "Const", {}, {{"dtype", encode_type_attr(3)},
                                                       {"value", encode_tensor_attr(3, {1}, &dim, 4)}}));
  std::string rname = b.fresh_name(scope + "/tfforge_" + what);
  helpers->push_back(make_node(b, rname, "Reshape", {ref, b.ref_to(cname, "output")},
                               {{"T", encode_type_attr(dtype)}, {"Tshape", encode_type_attr(3)}}));
  *out = b.ref_to(rname, "output");
  return true;
}

std::string filled_vector(Body& b, const std::string& scope, int dtype, int64_t n, double value,
                          std::vector<Node>* helpers) {
  size_t width = dtype == 1 ? 4 : 2;
  std::string bytes(size_t(n) * width, '\0');
  if (value != 0) {
    for (int64_t i = 0; i < n; ++i) {
      if (dtype == 1) {
        float f = float(value);
        std::memcpy(&bytes[size_t(i) * 4], &f, 4);
      } else {
        uint16_t one = dtype == 19 ? 0x3c00 : 0x3f80;  // 1.0 in float16 / bfloat16
        std::memcpy(&bytes[size_t(i) * 2], &one, 2);
      }
    }
  }
  std::string name = b.fresh_name(scope + (value == 0 ? "/tfforge_zeros" : "/tfforge_ones"));
  helpers->push_back(make_node(b, name, "Const", {}, {{"dtype", encode_type_attr(dtype)},
                                                      {"value", encode_tensor_attr(dtype, {n}, bytes.data(), bytes.size())}}));
  return b.ref_to(name, "output");
}

}  // namespace tfforge::graph::fuse
