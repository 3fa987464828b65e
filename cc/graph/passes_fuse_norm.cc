// fuse_layer_norm and fuse_rms_norm: (x - mean) * rsqrt(var + eps) * gamma + beta and
// x * rsqrt(mean(x^2) + eps) * gamma, over the last axis, into TfforgeLayerNorm / TfforgeRMSNorm.
// A site is found from its Rsqrt (or Sqrt, for x / sqrt(var + eps)); the statistics are read backwards
// structurally (Mean, SquaredDifference or Square of x - mean, StopGradient, the epsilon constant), the
// normalisation forwards as a polynomial (fuse_algebra.h), so moments/batch_normalization forms (Keras 3,
// tf.keras) and hand-written chains are recognised alike.
#include <cmath>
#include <cstdio>

#include "graph/fuse.h"

namespace tfforge::graph::fuse {

namespace {

// What the statistics part of a site is, read back from the anchor.
struct Stats {
  bool candidate = false;  // a Rsqrt/Sqrt of (mean of something + a tensor): a norm site
  std::string reason;      // set when it is one but not one we can fuse
  bool centered = false;   // variance of x - mean(x) (LayerNorm) or mean of x^2 (RMSNorm)
  std::string x, mean;     // the normalised tensor; the Mean(x) output (centered)
  double epsilon = 0;
  std::vector<size_t> nodes;  // add, variance, square, StopGradient, mean, x - mean
};

bool one_of(const std::string& op, std::initializer_list<const char*> ops) {
  for (auto o : ops)
    if (op == o) return true;
  return false;
}

// If `ref` is Mean(y) (through one StopGradient, recorded in nodes), y.
bool mean_of(const Body& b, std::string ref, std::string* y, std::string* mean_ref, std::vector<size_t>* nodes) {
  int64_t p = b.producer(ref);
  std::vector<size_t> seen;
  if (p >= 0 && b.node(size_t(p)).op == "StopGradient") {
    seen.push_back(size_t(p));
    auto in = b.data_inputs(size_t(p));
    if (in.empty()) return false;
    ref = in[0];
    p = b.producer(ref);
  }
  if (p < 0 || b.node(size_t(p)).op != "Mean" || b.data_inputs(size_t(p)).empty()) return false;
  seen.push_back(size_t(p));
  *y = b.data_inputs(size_t(p))[0];
  *mean_ref = ref;
  nodes->insert(nodes->end(), seen.begin(), seen.end());
  return true;
}

std::string check_mean(const Body& b, size_t mean, const std::string& x) {
  if (b.bool_attr(mean, "keep_dims") != true)
    return "the mean '" + b.node(mean).name + "' drops the reduced axis (keep_dims=false)";
  auto ins = b.data_inputs(mean);
  if (ins.size() != 2) return "the mean '" + b.node(mean).name + "' has no reduction axes input";
  std::string axis = check_last_axis(b, x, ins[1]);
  return axis.empty() ? axis : "the mean '" + b.node(mean).name + "' " + axis;
}

Stats read_stats(const Body& b, size_t anchor) {
  Stats s;
  auto ins = b.data_inputs(anchor);
  if (ins.size() != 1) return s;
  int64_t add = b.producer(ins[0]);
  if (add < 0 || !one_of(b.node(size_t(add)).op, {"Add", "AddV2"})) return s;
  auto ai = b.data_inputs(size_t(add));
  if (ai.size() != 2) return s;
  int which = -1;
  for (int k = 1; k >= 0; --k) {
    int64_t p = b.producer(ai[size_t(k)]);
    if (p >= 0 && b.node(size_t(p)).op == "Mean") which = k;
  }
  if (which < 0) return s;
  s.candidate = true;
  size_t var = size_t(b.producer(ai[size_t(which)]));
  s.nodes = {size_t(add), var};
  const std::string& eps_ref = ai[size_t(1 - which)];
  auto eps = b.scalar(eps_ref);
  if (!eps) {
    s.reason = "epsilon '" + b.display(eps_ref) + "' is not a scalar constant";
    return s;
  }
  if (!std::isfinite(*eps) || *eps < 0) {
    s.reason = "epsilon '" + b.display(eps_ref) + "' is negative or not finite";
    return s;
  }
  s.epsilon = *eps;
  auto vi = b.data_inputs(var);
  int64_t sq = vi.empty() ? -1 : b.producer(vi[0]);
  if (sq < 0) {
    s.reason = "the mean '" + b.node(var).name + "' does not average squares";
    return s;
  }
  const Node& sqn = b.node(size_t(sq));
  auto si = b.data_inputs(size_t(sq));
  s.nodes.push_back(size_t(sq));
  std::string base;
  if (sqn.op == "SquaredDifference" && si.size() == 2) {
    for (int k = 0; k < 2 && !s.centered; ++k) {
      std::string y, mref;
      std::vector<size_t> nodes;
      if (mean_of(b, si[size_t(1 - k)], &y, &mref, &nodes) && b.key(y) == b.key(si[size_t(k)])) {
        s.centered = true;
        s.x = y;
        s.mean = mref;
        s.nodes.insert(s.nodes.end(), nodes.begin(), nodes.end());
      }
    }
    if (!s.centered) {
      s.reason = "'" + sqn.name + "' is not (x - mean(x))^2 with the same x";
      return s;
    }
  } else if (sqn.op == "Square" && si.size() == 1) {
    base = si[0];
  } else if (sqn.op == "Mul" && si.size() == 2 && b.key(si[0]) == b.key(si[1])) {
    base = si[0];
  } else if (sqn.op == "Pow" && si.size() == 2 && b.scalar(si[1]) == 2.0) {
    base = si[0];
  } else {
    s.reason = "the mean '" + b.node(var).name + "' averages " + sqn.op + " '" + sqn.name + "', not a square";
    return s;
  }
  if (!s.centered) {
    int64_t d = b.producer(base);
    if (d >= 0 && b.node(size_t(d)).op == "Sub") {  // (x - mean(x))^2 computed as Square(Sub)
      auto di = b.data_inputs(size_t(d));
      for (int k = 0; k < 2 && !s.centered && di.size() == 2; ++k) {
        std::string y, mref;
        std::vector<size_t> nodes;
        if (mean_of(b, di[size_t(1 - k)], &y, &mref, &nodes) && b.key(y) == b.key(di[size_t(k)])) {
          s.centered = true;
          s.x = y;
          s.mean = mref;
          s.nodes.push_back(size_t(d));
          s.nodes.insert(s.nodes.end(), nodes.begin(), nodes.end());
        }
      }
    }
    if (!s.centered) s.x = base;
  }
  s.reason = check_mean(b, var, s.x);
  if (s.reason.empty() && s.centered) s.reason = check_mean(b, size_t(b.producer(s.mean)), s.x);
  return s;
}

// The forms the output polynomial must have. Atoms: x, mean, r = rsqrt(var + eps), then the others.
enum : int { kX = 0, kMean = 1, kR = 2 };

struct Form {
  int gamma = -1, beta = -1;
};

// x*r*G - mean*r*G (+ B), G at most one other atom, B one other atom.
bool layer_norm_form(const Poly& p, int dtype, Form* f) {
  if (!p.ok) return false;
  const Term *t1 = nullptr, *t2 = nullptr;
  std::vector<std::pair<int, int>> g1, g2;
  for (auto& t : p.terms) {
    bool x = false, m = false, r = false;
    std::vector<std::pair<int, int>> rest;
    for (auto& [a, e] : t.m) {
      if (a == kX && e == 1) x = true;
      else if (a == kMean && e == 1) m = true;
      else if (a == kR && e == 1) r = true;
      else if (a <= kR) return false;
      else rest.emplace_back(a, e);
    }
    if (x && r && !m && !t1) { t1 = &t; g1 = rest; }
    else if (m && r && !x && !t2) { t2 = &t; g2 = rest; }
    else if (!x && !m && !r && rest.size() == 1 && rest[0].second == 1 && f->beta < 0 && close(t.c, 1, dtype))
      f->beta = rest[0].first;
    else return false;
  }
  if (!t1 || !t2 || g1 != g2 || g1.size() > 1 || (g1.size() == 1 && g1[0].second != 1)) return false;
  if (!close(t1->c, 1, dtype) || !close(t2->c, -1, dtype)) return false;
  f->gamma = g1.empty() ? -1 : g1[0].first;
  return true;
}

// x*r*G, G at most one other atom.
bool rms_norm_form(const Poly& p, int dtype, Form* f) {
  if (!p.ok || p.terms.size() != 1 || !close(p.terms[0].c, 1, dtype)) return false;
  bool x = false, r = false;
  for (auto& [a, e] : p.terms[0].m) {
    if (a == kX && e == 1) x = true;
    else if (a == kR && e == 1) r = true;
    else if (a <= kR || e != 1 || f->gamma >= 0) return false;
    else f->gamma = a;
  }
  return x && r;
}

bool match_norm(Body& b, size_t anchor, bool layer_norm, Plan* plan, std::string* reason) {
  Stats s = read_stats(b, anchor);
  if (!s.candidate || s.centered != layer_norm) {
    if (s.candidate && !s.reason.empty() && s.x.empty() && layer_norm) *reason = s.reason;  // undecided: LN reports
    return false;
  }
  if (!s.reason.empty()) {
    *reason = s.reason;
    return false;
  }
  Region rg(b);
  rg.atom(s.x);                                     // kX
  rg.atom(layer_norm ? s.mean : "^no mean in RMSNorm");  // kMean
  std::string r_ref = b.ref_to(b.node(anchor).name, "y");
  int r = rg.atom(r_ref);                           // kR
  if (layer_norm) {
    // x - mean and -mean, read by the normalisation, are part of the site
    rg.expand = [&](const std::string& ref, Poly* out, std::vector<size_t>* used) {
      int64_t p = b.producer(ref);
      if (p < 0) return false;
      const Node& n = b.node(size_t(p));
      auto ins = b.data_inputs(size_t(p));
      std::vector<Poly> v;
      for (auto& in : ins) {
        if (b.key(in) == b.key(s.x)) v.push_back(Poly::atom(kX));
        else if (b.key(in) == b.key(s.mean)) v.push_back(Poly::atom(kMean));
        else return false;
      }
      if (n.op == "Neg" && v.size() == 1) *out = -v[0];
      else if (n.op == "Sub" && v.size() == 2) *out = v[0] - v[1];
      else if (one_of(n.op, {"Add", "AddV2"}) && v.size() == 2) *out = v[0] + v[1];
      else return false;
      used->push_back(size_t(p));
      return true;
    };
  }
  rg.grow(anchor, r_ref, Poly::atom(r, b.node(anchor).op == "Rsqrt" ? 1 : -1), false);
  int dtype = b.type_attr(anchor);
  const char* op = layer_norm ? "TfforgeLayerNorm" : "TfforgeRMSNorm";
  std::string first;
  for (auto it = rg.order().rbegin(); it != rg.order().rend(); ++it) {
    size_t o = *it;
    Form f;
    if (!(layer_norm ? layer_norm_form(rg.value(o), dtype, &f) : rms_norm_form(rg.value(o), dtype, &f))) continue;
    std::string why;
    int out_dtype = b.type_attr(o);
    std::vector<size_t> cone = rg.cone(o);
    cone.insert(cone.end(), s.nodes.begin(), s.nodes.end());
    Plan p;
    std::string gamma, beta;
    int64_t channels = last_dim(b, s.x);
    if (!fusable_dtype(out_dtype)) {
      why = std::string(op) + " takes float32, float16 or bfloat16; '" + b.node(o).name + "' is " + dtype_name(out_dtype);
    } else if (!(why = check_consumers(b, cone, o)).empty()) {
    } else if (f.gamma >= 0 && !channel_vector(b, "gamma", rg.atom_ref(f.gamma), s.x, out_dtype, b.node(o).name, &gamma,
                                               &p.helpers, &why)) {
    } else if (f.beta >= 0 && !channel_vector(b, "beta", rg.atom_ref(f.beta), s.x, out_dtype, b.node(o).name, &beta,
                                              &p.helpers, &why)) {
    } else if ((f.gamma < 0 || (layer_norm && f.beta < 0)) && channels < 0) {
      why = std::string("no ") + (f.gamma < 0 ? "gamma" : "beta") + " and the size of x's last axis is unknown";
    }
    if (why.empty()) {
      if (f.gamma < 0) gamma = filled_vector(b, b.node(o).name, out_dtype, channels, 1, &p.helpers);
      if (layer_norm && f.beta < 0) beta = filled_vector(b, b.node(o).name, out_dtype, channels, 0, &p.helpers);
      p.output = o;
      p.nodes = cone;
      p.op = op;
      p.inputs = {s.x, gamma};
      if (layer_norm) p.inputs.push_back(beta);
      p.attrs = {{"T", type_attr_value(out_dtype)}, {"epsilon", float_attr_value(float(s.epsilon))}};
      char eps[32];
      std::snprintf(eps, sizeof eps, "%g", s.epsilon);
      p.detail = std::string("epsilon=") + eps + (f.gamma < 0 ? ", no gamma" : "") +
                 (layer_norm && f.beta < 0 ? ", no beta" : "");
      *plan = std::move(p);
      return true;
    }
    if (first.empty()) first = why;
  }
  if (first.empty()) {
    std::unordered_map<int, std::string> names = {{kX, "x"}, {kMean, "mean"}, {r, "rsqrt(var + eps)"}};
    const char* want = layer_norm ? "(x - mean) * rsqrt(var + eps) * gamma + beta" : "x * rsqrt(mean(x^2) + eps) * gamma";
    first = std::string("no node computes ") + want;
    for (auto it = rg.order().rbegin(); it != rg.order().rend(); ++it)
      if (*it != anchor && rg.value(*it).ok && rg.value(*it).has_atom(r)) {
        first += "; the nearest, '" + b.node(*it).name + "', computes " + rg.show(rg.value(*it), names);
        break;
      }
  }
  *reason = first;
  return false;
}

// If `ref` is Fill(dims, c) or a Const with every element c (through Identity), true.
bool filled_with(const Body& b, const std::string& ref, double c) {
  int64_t p = b.producer(ref);
  if (p < 0) return false;
  if (b.node(size_t(p)).op == "Fill") {
    auto ins = b.data_inputs(size_t(p));
    return ins.size() == 2 && b.scalar(ins[1]) == c;
  }
  return b.scalar(ref) == c;
}

// tf.keras' LayerNormalization on its fused path: x reshaped to [1, rows, C, 1], FusedBatchNormV3 in
// training mode over NCHW with scale ones and offset zeros (per-row statistics), reshaped back to x's
// shape, then * gamma + beta.
bool match_fused_batch_norm(Body& b, size_t fbn, Plan* plan, std::string* reason) {
  auto ins = b.data_inputs(fbn);
  if (ins.size() < 3) return false;
  int64_t reshape = b.producer(ins[0]);
  if (reshape < 0 || b.node(size_t(reshape)).op != "Reshape" || b.data_inputs(size_t(reshape)).size() != 2) return false;
  // attrs at their defaults may be left out of the NodeDef: is_training=true, data_format=NHWC, epsilon=1e-4
  if (!b.bool_attr(fbn, "is_training").value_or(true) || b.string_attr(fbn, "data_format") != std::string("NCHW") ||
      !filled_with(b, ins[1], 1) || !filled_with(b, ins[2], 0))
    return false;  // a batch norm, not a layer norm in disguise
  const std::string x = b.data_inputs(size_t(reshape))[0];
  std::string name = b.node(fbn).name;
  // the reshape's target [1, rows, C, 1]: C must be the last axis of x
  auto rs = b.data_inputs(size_t(reshape));
  int64_t pack = rs.size() == 2 ? b.producer(rs[1]) : -1;
  auto pi = pack >= 0 && b.node(size_t(pack)).op == "Pack" ? b.data_inputs(size_t(pack)) : std::vector<std::string>{};
  if (pi.size() != 4 || b.scalar(pi[0]) != 1.0 || b.scalar(pi[3]) != 1.0) {
    *reason = "the reshape before '" + name + "' is not to [1, rows, channels, 1]";
    return false;
  }
  bool last_axis = false;
  auto xs = b.shape(x);
  if (auto c = b.scalar(pi[2])) last_axis = xs && !xs->dims.empty() && xs->dims.back() == int64_t(*c);
  int64_t prod = b.producer(pi[2]);
  if (!last_axis && prod >= 0 && b.node(size_t(prod)).op == "Prod" && !b.data_inputs(size_t(prod)).empty()) {
    int64_t ss = b.producer(b.data_inputs(size_t(prod))[0]);
    if (ss >= 0 && b.node(size_t(ss)).op == "StridedSlice" && b.data_inputs(size_t(ss)).size() == 4) {
      auto si = b.data_inputs(size_t(ss));
      int64_t shp = b.producer(si[0]);
      auto begin = b.ints(si[1]);
      bool to_end = (b.int_attr(size_t(ss), "end_mask").value_or(0) & 1) == 1 &&
                    b.int_attr(size_t(ss), "begin_mask").value_or(0) == 0 &&
                    b.int_attr(size_t(ss), "shrink_axis_mask").value_or(0) == 0;
      bool of_x = shp >= 0 && b.node(size_t(shp)).op == "Shape" && !b.data_inputs(size_t(shp)).empty() &&
                  b.key(b.data_inputs(size_t(shp))[0]) == b.key(x);
      if (of_x && to_end && begin && begin->size() == 1 && b.ints(si[3]) == std::vector<int64_t>{1})
        last_axis = (*begin)[0] == -1 || (xs && int64_t(xs->dims.size()) - 1 == (*begin)[0]);
    }
  }
  if (!last_axis) {
    *reason = "'" + name + "' normalises over more than the last axis of x (or x's rank is unknown)";
    return false;
  }
  // y only, reshaped back to x's shape
  std::string y = b.ref_to(name, "y");
  int64_t back = -1;
  for (auto& u : b.uses(fbn)) {
    bool reads_y = false;
    if (u.node >= 0 && !u.control)
      for (auto& in : b.data_inputs(size_t(u.node))) reads_y |= b.producer(in) == int64_t(fbn) && b.key(in) == b.key(y);
    if (!reads_y || back >= 0) {
      *reason = "another output of '" + name + "' is read, or y by more than one node";
      return false;
    }
    back = u.node;
  }
  auto bi = back >= 0 ? b.data_inputs(size_t(back)) : std::vector<std::string>{};
  int64_t shp = bi.size() == 2 ? b.producer(bi[1]) : -1;
  if (back < 0 || b.node(size_t(back)).op != "Reshape" || shp < 0 || b.node(size_t(shp)).op != "Shape" ||
      b.data_inputs(size_t(shp)).empty() || b.key(b.data_inputs(size_t(shp))[0]) != b.key(x)) {
    *reason = "the output of '" + name + "' is not reshaped back to the shape of x";
    return false;
  }
  auto eps = b.float_attr(fbn, "epsilon");
  if (!eps) eps = 1e-4f;
  // * gamma + beta, as a polynomial in the normalised n
  Region rg(b);
  std::string n_ref = b.ref_to(b.node(size_t(back)).name, "output");
  int n = rg.atom(n_ref);
  rg.grow(size_t(back), n_ref, Poly::atom(n), false);
  std::string first;
  for (auto it = rg.order().rbegin(); it != rg.order().rend(); ++it) {
    const Poly& p = rg.value(*it);
    int gamma = -1, beta = -1;
    bool ok = p.ok && !p.terms.empty() && p.terms.size() <= 2;
    for (auto& t : p.terms) {
      if (!ok || !close(t.c, 1, b.type_attr(*it))) { ok = false; break; }
      if (t.m.size() == 1 && t.m[0] == std::pair<int, int>{n, 1}) continue;
      if (t.m.size() == 2 && t.m[0] == std::pair<int, int>{n, 1} && t.m[1].second == 1 && gamma < 0) gamma = t.m[1].first;
      else if (t.m.size() == 1 && t.m[0].second == 1 && t.m[0].first != n && beta < 0) beta = t.m[0].first;
      else ok = false;
    }
    bool has_n = false;
    for (auto& t : p.terms) has_n |= !t.m.empty() && t.m[0].first == n;
    if (!ok || !has_n) continue;
    size_t o = *it;
    int dtype = b.type_attr(o);
    std::vector<size_t> cone = rg.cone(o);
    cone.insert(cone.end(), {fbn, size_t(reshape)});
    Plan pl;
    std::string g, be, why;
    int64_t channels = last_dim(b, x);
    if (!fusable_dtype(dtype)) why = std::string("TfforgeLayerNorm takes float32, float16 or bfloat16, not ") + dtype_name(dtype);
    else if (!(why = check_consumers(b, cone, o)).empty()) {}
    else if (gamma >= 0 && !channel_vector(b, "gamma", rg.atom_ref(gamma), x, dtype, b.node(o).name, &g, &pl.helpers, &why)) {}
    else if (beta >= 0 && !channel_vector(b, "beta", rg.atom_ref(beta), x, dtype, b.node(o).name, &be, &pl.helpers, &why)) {}
    else if ((gamma < 0 || beta < 0) && channels < 0) why = "no gamma or beta and the size of x's last axis is unknown";
    if (!why.empty()) {
      if (first.empty()) first = why;
      continue;
    }
    if (gamma < 0) g = filled_vector(b, b.node(o).name, dtype, channels, 1, &pl.helpers);
    if (beta < 0) be = filled_vector(b, b.node(o).name, dtype, channels, 0, &pl.helpers);
    pl.output = o;
    pl.nodes = cone;
    pl.op = "TfforgeLayerNorm";
    pl.inputs = {x, g, be};
    pl.attrs = {{"T", type_attr_value(dtype)}, {"epsilon", float_attr_value(*eps)}};
    char text[48];
    std::snprintf(text, sizeof text, "epsilon=%g (FusedBatchNormV3 form)", double(*eps));
    pl.detail = text;
    *plan = std::move(pl);
    return true;
  }
  *reason = first.empty() ? "no node computes normalised * gamma + beta after '" + name + "'" : first;
  return false;
}

bool match_layer_norm(Body& b, size_t anchor, const std::vector<bool>&, Plan* plan, std::string* reason) {
  if (b.node(anchor).op == "FusedBatchNormV3") return match_fused_batch_norm(b, anchor, plan, reason);
  return match_norm(b, anchor, true, plan, reason);
}

bool match_rms_norm(Body& b, size_t anchor, const std::vector<bool>&, Plan* plan, std::string* reason) {
  return match_norm(b, anchor, false, plan, reason);
}

}  // namespace

void fuse_layer_norm(GraphDef& g, const PassContext& ctx, std::vector<Site>* report) {
  run_fusion(g, ctx, "layer_norm", {"Rsqrt", "Sqrt", "FusedBatchNormV3"}, match_layer_norm, report);
}

void fuse_rms_norm(GraphDef& g, const PassContext& ctx, std::vector<Site>* report) {
  run_fusion(g, ctx, "rms_norm", {"Rsqrt", "Sqrt"}, match_rms_norm, report);
}

}  // namespace tfforge::graph::fuse

namespace tfforge::graph {

TFFORGE_GRAPH_PASS(fuse_layer_norm) { fuse::fuse_layer_norm(g, ctx, nullptr); }
TFFORGE_GRAPH_PASS(fuse_rms_norm) { fuse::fuse_rms_norm(g, ctx, nullptr); }

}  // namespace tfforge::graph
