// fuse_bias_gelu: GELU over x = BiasAdd(h, bias) (or h + bias) into TfforgeBiasGelu(h, bias):
//   exact    0.5 * x * (1 + erf(x / sqrt(2)))            (or 0.5 * x * erfc(-x / sqrt(2)), tf.nn.gelu)
//   tanh     0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))          (approximate=true)
// A site is found from its Erf / Erfc / Tanh; x is found from the argument, and both the argument and
// the output are compared as polynomials in x (fuse_algebra.h), so every association order and
// spelling of the constants is recognised, and a constant off is not. Without a bias add in front (or
// when the bias add has other consumers) a zero bias is fed when x's last axis has a known size.
#include <cmath>
#include <unordered_set>

#include "graph/fuse.h"

namespace tfforge::graph::fuse {

namespace {

const double kInvSqrt2 = 0.70710678118654752440;
const double kSqrt2OverPi = 0.79788456080286535588;
const double kTanhCubic = 0.044715;

// Back through multiplication or division by scalar constants, negation and Identity.
std::string unscale(const Body& b, std::string ref) {
  for (int i = 0; i < 8; ++i) {
    int64_t p = b.producer(ref);
    if (p < 0) break;
    const std::string& op = b.node(size_t(p)).op;
    auto ins = b.data_inputs(size_t(p));
    if ((op == "Identity" || op == "Neg") && ins.size() == 1) ref = ins[0];
    else if (op == "Mul" && ins.size() == 2 && b.scalar(ins[0])) ref = ins[1];
    else if (op == "Mul" && ins.size() == 2 && b.scalar(ins[1])) ref = ins[0];
    else if ((op == "RealDiv" || op == "Div") && ins.size() == 2 && b.scalar(ins[1])) ref = ins[0];
    else break;
  }
  return ref;
}

// Tensors the GELU's x may be, read from the Erf/Erfc/Tanh argument.
std::vector<std::string> candidates(const Body& b, size_t anchor) {
  auto ins = b.data_inputs(anchor);
  if (ins.size() != 1) return {};
  std::string c0 = unscale(b, ins[0]);
  if (b.node(anchor).op != "Tanh") return {c0};
  // tanh form: the argument is (a multiple of) x + c * x^3, or x * (1 + c * x^2)
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  auto add = [&](const std::string& r) {
    if (!b.scalar(r) && seen.insert(b.key(r)).second) out.push_back(r);
  };
  int64_t p = b.producer(c0);
  if (p < 0) return {};
  const std::string& op = b.node(size_t(p)).op;
  if (op != "Add" && op != "AddV2" && op != "Sub" && op != "Mul") return {};
  for (auto& in : b.data_inputs(size_t(p))) {
    std::string u = unscale(b, in);
    add(u);
    int64_t q = b.producer(u);
    if (q >= 0 && (b.node(size_t(q)).op == "Pow" || b.node(size_t(q)).op == "Mul" || b.node(size_t(q)).op == "Square"))
      for (auto& in2 : b.data_inputs(size_t(q))) add(unscale(b, in2));
  }
  return out;
}

// The argument check: erf x/sqrt2, erfc -x/sqrt2, tanh sqrt(2/pi)*(x + 0.044715 x^3).
std::string check_argument(const std::string& op, const Poly& arg, int x, int dtype, bool* in_x) {
  *in_x = arg.ok;
  for (auto& t : arg.terms)
    for (auto& [a, e] : t.m)
      if (a != x) *in_x = false;
  if (!*in_x) return "";
  auto coeff = [&](int e, double* c) {
    for (auto& t : arg.terms)
      if (t.m.size() == 1 && t.m[0].second == e) { *c = t.c; return true; }
    return false;
  };
  double c1 = 0, c3 = 0;
  bool has1 = coeff(1, &c1), has3 = coeff(3, &c3);
  if (op == "Tanh") {
    if (arg.terms.size() == 2 && has1 && has3 && close(c1, kSqrt2OverPi, dtype) && close(c3 / c1, kTanhCubic, dtype))
      return {};
    return "needs sqrt(2/pi) * (x + 0.044715 * x^3) = 0.79788456*x + 0.035677408*x^3";
  }
  double want = op == "Erf" ? kInvSqrt2 : -kInvSqrt2;
  if (arg.terms.size() == 1 && has1 && close(c1, want, dtype)) return {};
  return op == "Erf" ? "needs x / sqrt(2) = 0.70710678*x" : "needs -x / sqrt(2) = -0.70710678*x";
}

// The output: 0.5*x + 0.5*x*e (erf, tanh) or 0.5*x*e (erfc).
bool gelu_form(const Poly& p, int x, int e, bool erfc, int dtype) {
  if (!p.ok || p.terms.size() != (erfc ? 1u : 2u)) return false;
  bool linear = erfc, product = false;
  for (auto& t : p.terms) {
    if (!close(t.c, 0.5, dtype)) return false;
    if (t.m == std::vector<std::pair<int, int>>{{x, 1}}) linear = true;
    else if (t.m == std::vector<std::pair<int, int>>{{std::min(x, e), 1}, {std::max(x, e), 1}}) product = true;
    else return false;
  }
  return linear && product;
}

// The bias to fuse: x's BiasAdd / Add of a vector when it feeds only the GELU; else none (empty h).
void split_bias(Body& b, const std::string& x, const std::vector<size_t>& cone, std::string* h, std::string* bias,
                int64_t* bias_node, std::string* note) {
  int64_t p = b.producer(x);
  std::string k = b.key(x);
  if (p < 0 || k.size() < 2 || k.compare(k.size() - 2, 2, ":0") != 0) {
    if (p >= 0 && b.node(size_t(p)).op == "BiasAdd") *note = "x is not the BiasAdd's first output";
    return;
  }
  const Node& n = b.node(size_t(p));
  auto ins = b.data_inputs(size_t(p));
  if (ins.size() != 2) return;
  std::unordered_set<size_t> in(cone.begin(), cone.end());
  for (auto& u : b.uses(size_t(p)))
    if (u.node < 0 || !in.count(size_t(u.node))) {
      *note = "the bias add '" + n.name + "' has another consumer" +
              (u.node >= 0 ? " '" + b.node(size_t(u.node)).name + "'" : "");
      return;
    }
  if (n.op == "BiasAdd") {
    auto format = b.string_attr(size_t(p), "data_format");
    if (format && *format != "NHWC") {
      *note = "the BiasAdd '" + n.name + "' adds over the channels of " + *format;
      return;
    }
    *h = ins[0];
    *bias = ins[1];
  } else if (n.op == "Add" || n.op == "AddV2") {
    for (int k = 0; k < 2; ++k) {
      auto s = b.shape(ins[size_t(k)]);
      auto xs = b.shape(ins[size_t(1 - k)]);
      // a vector added to x: broadcast over x's last axis (a last axis of 1 would make the fused op fail
      // loudly on the bias length, never compute something else)
      if (b.is_param(ins[size_t(k)]) && s && s->dims.size() == 1 &&
          (!xs || (!xs->dims.empty() && (xs->dims.back() < 0 || xs->dims.back() == s->dims[0])))) {
        *h = ins[size_t(1 - k)];
        *bias = ins[size_t(k)];
        break;
      }
    }
    if (h->empty()) return;
  } else {
    return;
  }
  *bias_node = p;
}

bool match_bias_gelu(Body& b, size_t anchor, const std::vector<bool>&, Plan* plan, std::string* reason) {
  const std::string& op = b.node(anchor).op;
  int dtype = b.type_attr(anchor);
  std::string first;
  bool reported = op != "Tanh";  // a Tanh is a GELU candidate only when its argument looks like one
  for (auto& x : candidates(b, anchor)) {
    int64_t xp = b.producer(x);
    if (xp < 0) {
      if (first.empty()) first = "the GELU input '" + x + "' is a function argument, not a node";
      continue;
    }
    Region rg(b);
    int xa = rg.atom(x);
    rg.grow(size_t(xp), x, Poly::atom(xa), true);
    if (!rg.contains(anchor) || rg.function_atom(anchor) < 0) continue;
    bool in_x = false;
    std::string arg_why = check_argument(op, rg.argument(anchor), xa, dtype, &in_x);
    if (!in_x) continue;
    reported = true;
    std::unordered_map<int, std::string> names = {{xa, "x"}};
    if (!arg_why.empty()) {
      if (first.empty()) first = "the " + op + " argument is " + rg.show(rg.argument(anchor), names) + "; GELU " + arg_why;
      continue;
    }
    int e = rg.function_atom(anchor);
    names[e] = op == "Erf" ? "erf(x/sqrt(2))" : op == "Erfc" ? "erfc(-x/sqrt(2))" : "tanh(...)";
    size_t out = anchor;
    bool found = false;
    for (auto it = rg.order().rbegin(); it != rg.order().rend() && !found; ++it)
      if (gelu_form(rg.value(*it), xa, e, op == "Erfc", dtype)) {
        out = *it;
        found = true;
      }
    if (!found) {
      std::string why = std::string("no node computes 0.5 * x * ") +
                        (op == "Erfc" ? "erfc(-x/sqrt(2))" : "(1 + " + names[e] + ")");
      for (auto it = rg.order().rbegin(); it != rg.order().rend(); ++it)
        if (*it != anchor && rg.value(*it).has_atom(e)) {
          why += "; the nearest, '" + b.node(*it).name + "', computes " + rg.show(rg.value(*it), names);
          break;
        }
      if (first.empty()) first = why;
      continue;
    }
    std::vector<size_t> cone;
    for (size_t n : rg.cone(out))
      if (n != size_t(xp)) cone.push_back(n);
    int out_dtype = b.type_attr(out);
    std::string why;
    if (!fusable_dtype(out_dtype)) why = "TfforgeBiasGelu takes float32, float16 or bfloat16; '" + b.node(out).name +
                                         "' is " + dtype_name(out_dtype);
    else why = check_consumers(b, cone, out);
    if (!why.empty()) {
      if (first.empty()) first = why;
      continue;
    }
    Plan p;
    std::string h, bias, note;
    int64_t bias_node = -1;
    split_bias(b, x, cone, &h, &bias, &bias_node, &note);
    if (bias_node >= 0) {
      cone.push_back(size_t(bias_node));
      p.detail = "bias '" + b.display(bias) + "'";
    } else {
      int64_t channels = last_dim(b, x);
      if (channels < 0) {
        if (first.empty())
          first = "the GELU input '" + b.display(x) + "' is not a bias add feeding only the GELU" +
                  (note.empty() ? "" : " (" + note + ")") + ", and the size of its last axis is unknown";
        continue;
      }
      h = x;
      bias = filled_vector(b, b.node(out).name, out_dtype, channels, 0, &p.helpers);
      p.detail = "zero bias" + (note.empty() ? std::string() : " (" + note + ")");
    }
    bool approximate = op == "Tanh";
    p.detail = std::string(approximate ? "approximate (tanh), " : "exact (erf), ") + p.detail;
    p.output = out;
    p.nodes = cone;
    p.op = "TfforgeBiasGelu";
    p.inputs = {h, bias};
    p.attrs = {{"T", type_attr_value(out_dtype)}, {"approximate", bool_attr_value(approximate)}};
    *plan = std::move(p);
    return true;
  }
  if (reported) *reason = first.empty() ? "the " + op + " argument is not a multiple of one tensor x" : first;
  return false;
}

}  // namespace

void fuse_bias_gelu(GraphDef& g, const PassContext& ctx, std::vector<Site>* report) {
  run_fusion(g, ctx, "bias_gelu", {"Erf", "Erfc", "Tanh"}, match_bias_gelu, report);
}

}  // namespace tfforge::graph::fuse

namespace tfforge::graph {

TFFORGE_GRAPH_PASS(fuse_bias_gelu) { fuse::fuse_bias_gelu(g, ctx, nullptr); }

}  // namespace tfforge::graph
