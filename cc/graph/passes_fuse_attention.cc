// fuse_attention: the attention core of Keras' MultiHeadAttention (query already scaled) into one
// TfforgeAttention over the [batch, length, heads, head_dim] tensors the projections give:
//   scores = Transpose(BatchMatMulV2(Transpose(key, [0,2,1,3]), Transpose(query, [0,2,3,1])), [0,1,3,2])
//            (keras-hub on Keras 3)  or  Einsum("aecd,abcd->acbe", key, query)  (tf-keras, tf.einsum)
//            or  Einsum("BTNH,BSNH->BNTS", query, key)  (Keras 3 MultiHeadAttention)
//            optionally times a scalar constant (Keras 3 MultiHeadAttention scales the scores)
//   probs  = Softmax(scores)  or, masked,
//            SelectV2(mask, Softmax(SelectV2(mask, scores, fill)), 0)   (Keras' Softmax layer)
//            Softmax(SelectV2(mask, scores, fill))                     (Keras 3 MultiHeadAttention)
//   then Identity (dropout at inference, tf-keras) at most a few times
// A Shape op reading the scores (Keras 3 MultiHeadAttention builds its mask from ones_like(scores)) is
// rebuilt from the query's and key's shapes, so the scores need not be computed for it.
//   out    = Transpose(BatchMatMulV2(probs, Transpose(value, [0,2,1,3])), [0,2,1,3])
//            or  Einsum("acbe,aecd->abcd", probs, value)
// Every permutation, equation, constant and consumer is checked; the additive mask form of tf-keras'
// Softmax ((1 - mask) * -large + scores) is left alone with the reason.
#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "graph/fuse.h"

namespace tfforge::graph::fuse {

namespace {

constexpr int kFloat = 1;  // DT_FLOAT

// The equation with its letters renamed in order of first appearance ("aecd,abcd->acbe" and
// "xyzw,xvzw->xzvy" compare equal).
std::string canonical(std::string eq) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  std::unordered_map<char, char> names;
  for (char& c : eq) {
    if (c < 'A' || (c > 'Z' && c < 'a') || c > 'z') continue;
    auto it = names.find(c);
    if (it == names.end()) it = names.emplace(c, char('a' + names.size())).first;
    c = it->second;
  }
  return eq;
}

int64_t sole_consumer(const Body& b, size_t i) {
  const auto& us = b.uses(i);
  if (us.size() != 1 || us[0].node < 0 || us[0].control) return -1;
  return us[0].node;
}

// Node `i` is a Transpose by `perm`: its input, else empty.
std::string transposed(const Body& b, int64_t i, const std::vector<int64_t>& perm) {
  if (i < 0 || b.node(size_t(i)).op != "Transpose") return {};
  auto ins = b.data_inputs(size_t(i));
  if (ins.size() != 2) return {};
  auto p = b.ints(ins[1]);
  if (!p || *p != perm) return {};
  return ins[0];
}

bool plain_bmm(const Body& b, int64_t i) {
  if (i < 0) return false;
  const Node& n = b.node(size_t(i));
  return (n.op == "BatchMatMulV2" || n.op == "BatchMatMul") && b.type_attr(size_t(i)) == kFloat &&
         !b.bool_attr(size_t(i), "adj_x").value_or(false) && !b.bool_attr(size_t(i), "adj_y").value_or(false) &&
         b.data_inputs(size_t(i)).size() == 2;
}

// The scores tensor `ref`: its product of key and query (the nodes into `cone`), or why not.
std::string read_scores(const Body& b, const std::string& ref, std::string* query, std::string* key,
                        std::vector<size_t>* cone) {
  int64_t p = b.producer(ref);
  if (p < 0) return "the scores '" + b.display(ref) + "' are not computed in this graph";
  const Node& n = b.node(size_t(p));
  if (n.op == "Einsum") {
    auto eq = b.string_attr(size_t(p), "equation");
    auto ins = b.data_inputs(size_t(p));
    const bool key_first = eq && canonical(*eq) == canonical("aecd,abcd->acbe");
    const bool query_first = eq && canonical(*eq) == canonical("btnh,bsnh->bnts");
    if (ins.size() != 2 || !(key_first || query_first))
      return "the scores come from Einsum '" + (eq ? *eq : std::string()) +
             "', not \"aecd,abcd->acbe\" (key, query) or \"btnh,bsnh->bnts\" (query, key)";
    *key = ins[key_first ? 0 : 1];
    *query = ins[key_first ? 1 : 0];
    cone->push_back(size_t(p));
    return {};
  }
  if (n.op != "Transpose") return "the scores come from " + n.op + " '" + n.name + "', not a product of key and query";
  auto ins = b.data_inputs(size_t(p));
  auto perm = ins.size() == 2 ? b.ints(ins[1]) : std::nullopt;
  if (!perm || *perm != std::vector<int64_t>{0, 1, 3, 2})
    return "the scores come from Transpose '" + n.name + "' with another permutation than [0, 1, 3, 2]";
  int64_t mm = b.producer(ins[0]);
  if (!plain_bmm(b, mm)) return "Transpose '" + n.name + "' does not read a float32 BatchMatMul without adjoints";
  auto mins = b.data_inputs(size_t(mm));
  int64_t kt = b.producer(mins[0]), qt = b.producer(mins[1]);
  *key = transposed(b, kt, {0, 2, 1, 3});
  *query = transposed(b, qt, {0, 2, 3, 1});
  if (key->empty() || query->empty())
    return "BatchMatMul '" + b.node(size_t(mm)).name +
           "' does not multiply key transposed by [0, 2, 1, 3] with query transposed by [0, 2, 3, 1]";
  cone->insert(cone->end(), {size_t(p), size_t(mm), size_t(kt), size_t(qt)});
  return {};
}

// The context product reading the probabilities (node `probs`): value, the output node, or why not.
std::string read_context(const Body& b, size_t probs, std::string* value, size_t* out, std::vector<size_t>* cone) {
  int64_t c = sole_consumer(b, probs);
  // dropout at inference (tf-keras): Identity
  for (int hops = 0; c >= 0 && b.node(size_t(c)).op == "Identity" && hops < 4; ++hops) {
    cone->push_back(size_t(c));
    probs = size_t(c);
    c = sole_consumer(b, probs);
  }
  if (c < 0) return "the probabilities '" + b.node(probs).name + "' have another consumer than the context product";
  const Node& n = b.node(size_t(c));
  auto ins = b.data_inputs(size_t(c));
  std::string pkey = b.producer(ins.empty() ? std::string() : ins[0]) == int64_t(probs) ? "ok" : "";
  if (n.op == "Einsum") {
    auto eq = b.string_attr(size_t(c), "equation");
    if (!eq || ins.size() != 2 || pkey.empty() || canonical(*eq) != canonical("acbe,aecd->abcd"))
      return "the probabilities go to Einsum '" + (eq ? *eq : std::string()) +
             "', not \"acbe,aecd->abcd\" (probabilities, value)";
    *value = ins[1];
    *out = size_t(c);
    cone->push_back(size_t(c));
    return {};
  }
  if (!plain_bmm(b, c) || pkey.empty())
    return "the probabilities go to " + n.op + " '" + n.name + "', not a product with the value";
  int64_t vt = b.producer(ins[1]);
  *value = transposed(b, vt, {0, 2, 1, 3});
  if (value->empty()) return "BatchMatMul '" + n.name + "' does not read the value transposed by [0, 2, 1, 3]";
  int64_t t = sole_consumer(b, size_t(c));
  if (transposed(b, t, {0, 2, 1, 3}).empty())
    return "the context product '" + n.name + "' is not transposed back by [0, 2, 1, 3] (and only that)";
  *out = size_t(t);
  cone->insert(cone->end(), {size_t(c), size_t(vt), size_t(t)});
  return {};
}

bool is_product(const Body& b, const std::string& ref, int depth = 0) {
  int64_t p = b.producer(ref);
  if (p < 0) return false;
  const std::string& op = b.node(size_t(p)).op;
  if (op == "Mul" && depth == 0)
    for (auto& in : b.data_inputs(size_t(p)))
      if (is_product(b, in, 1)) return true;
  return op == "Einsum" || op == "Transpose" || op == "BatchMatMulV2" || op == "BatchMatMul";
}

// Scores times a scalar constant: the product and the scale (the Mul into `cone`), or the scores as they are.
std::string unscaled(const Body& b, const std::string& ref, float* scale, std::vector<size_t>* cone) {
  int64_t p = b.producer(ref);
  if (p < 0 || b.node(size_t(p)).op != "Mul") return ref;
  auto ins = b.data_inputs(size_t(p));
  if (ins.size() != 2) return ref;
  for (int i = 0; i < 2; ++i) {
    auto c = b.scalar(ins[size_t(1 - i)]);
    if (c && is_product(b, ins[size_t(i)], 1)) {
      *scale = float(*c);
      cone->push_back(size_t(p));
      return ins[size_t(i)];
    }
  }
  return ref;
}

bool match_attention(Body& b, size_t anchor, const std::vector<bool>&, Plan* plan, std::string* reason) {
  auto ins = b.data_inputs(anchor);
  if (ins.size() != 1) return false;
  std::vector<size_t> cone = {anchor};
  std::string scores = ins[0], mask;
  float fill = 0.f, scale = 1.f;
  bool zero_masked = true;
  size_t probs = anchor;
  int64_t p = b.producer(scores);
  if (p >= 0 && b.node(size_t(p)).op == "SelectV2") {
    auto sin = b.data_inputs(size_t(p));
    if (sin.size() != 3 || !is_product(b, sin[1])) return false;
    // SelectV2(mask, scores, fill) -> Softmax [-> SelectV2(mask, probs, 0)]
    auto f = b.scalar(sin[2]);
    if (!f) {
      *reason = "the masked scores' fill '" + b.display(sin[2]) + "' is not a constant";
      return false;
    }
    int64_t after = sole_consumer(b, anchor);
    if (after >= 0 && b.node(size_t(after)).op == "SelectV2") {
      auto ain = b.data_inputs(size_t(after));
      auto zero = ain.size() == 3 ? b.scalar(ain[2]) : std::nullopt;
      if (ain.size() != 3 || b.key(ain[0]) != b.key(sin[0]) || b.producer(ain[1]) != int64_t(anchor) || !zero ||
          *zero != 0.0) {
        *reason = "the SelectV2 after the softmax is not (the same mask, the probabilities, 0)";
        return false;
      }
      probs = size_t(after);
      cone.push_back(size_t(after));
    } else {
      zero_masked = false;
    }
    mask = sin[0];
    fill = float(*f);
    scores = sin[1];
    cone.push_back(size_t(p));
  } else if (p >= 0 && (b.node(size_t(p)).op == "AddV2" || b.node(size_t(p)).op == "Add")) {
    auto ain = b.data_inputs(size_t(p));
    if (ain.size() == 2 && (is_product(b, ain[0]) || is_product(b, ain[1]))) {
      *reason = "the scores get an additive mask (tf-keras' (1 - mask) * -large), which this pattern does not take";
    }
    return false;
  } else if (!is_product(b, scores)) {
    return false;
  }
  if (b.type_attr(anchor) != kFloat) {
    *reason = std::string("the softmax is ") + dtype_name(b.type_attr(anchor)) + "; TfforgeAttention takes float32";
    return false;
  }
  std::string query, key, value;
  size_t out = 0;
  const std::string scores_ref = scores;
  std::string why = read_scores(b, unscaled(b, scores, &scale, &cone), &query, &key, &cone);
  if (why.empty()) why = read_context(b, probs, &value, &out, &cone);
  if (why.empty() && !mask.empty()) {
    auto ms = b.shape(mask);
    if (ms && !ms->unknown_rank && ms->dims.size() > 4) why = "the mask has rank " + std::to_string(ms->dims.size());
  }
  std::vector<size_t> shapes;  // Shape ops reading the scores (Keras 3 builds its mask's ones_like from them)
  if (why.empty()) {
    std::sort(cone.begin(), cone.end());
    cone.erase(std::unique(cone.begin(), cone.end()), cone.end());
    int64_t sp = b.producer(scores_ref);
    std::vector<size_t> inner = cone;
    if (sp >= 0)
      for (auto& u : b.uses(size_t(sp)))
        if (u.node >= 0 && !u.control && b.node(size_t(u.node)).op == "Shape" &&
            !std::count(cone.begin(), cone.end(), size_t(u.node)) &&
            !std::count(shapes.begin(), shapes.end(), size_t(u.node))) {
          shapes.push_back(size_t(u.node));
          inner.push_back(size_t(u.node));
        }
    // every intermediate is read inside the pattern only, but for those Shape ops
    for (size_t n : cone) {
      if (n == out || !why.empty()) continue;
      for (auto& u : b.uses(n)) {
        if (u.node >= 0 && !u.control && std::count(inner.begin(), inner.end(), size_t(u.node))) continue;
        why = "intermediate '" + b.node(n).name + "' " +
              (u.node < 0 ? "is also " + u.external
                          : "has an extra consumer '" + b.node(size_t(u.node)).name + "'" +
                                (u.control ? " (a control input)" : ""));
        break;
      }
    }
  }
  if (!why.empty()) {
    *reason = why;
    return false;
  }
  // Shape(scores) = [batch, heads, query length, key length] from shape(query) and shape(key)
  for (size_t sh : shapes) {
    int out_type = b.type_attr(sh, "out_type");
    if (out_type < 0) out_type = 3;
    std::string scope = b.node(sh).name + "/tfforge_attention";
    std::string qs = b.fresh_name(scope + "/query_shape"), ks = b.fresh_name(scope + "/key_shape");
    plan->helpers.push_back(make_node(b, qs, "Shape", {query},
                                      {{"T", type_attr_value(kFloat)}, {"out_type", type_attr_value(out_type)}}));
    plan->helpers.push_back(make_node(b, ks, "Shape", {key},
                                      {{"T", type_attr_value(kFloat)}, {"out_type", type_attr_value(out_type)}}));
    std::string after;
    if (b.function().empty() && b.producer(query) >= 0) after = b.node(size_t(b.producer(query))).name;
    std::string axis = int32_vector(b, scope + "/axis", {0}, &plan->helpers, after, true);
    std::string both = b.fresh_name(scope + "/shapes");
    plan->helpers.push_back(make_node(b, both, "ConcatV2", {b.ref_to(qs, "output"), b.ref_to(ks, "output"), axis},
                                      {{"N", int_attr_value(2)}, {"T", type_attr_value(out_type)},
                                       {"Tidx", type_attr_value(3)}}));
    std::string pick = int32_vector(b, scope + "/pick", {0, 2, 1, 5}, &plan->helpers, after);
    Node g = make_node(b, b.node(sh).name, "GatherV2", {b.ref_to(both, "output"), pick, axis},
                       {{"Tparams", type_attr_value(out_type)}, {"Tindices", type_attr_value(3)},
                        {"Taxis", type_attr_value(3)}, {"batch_dims", int_attr_value(0)}});
    plan->rewired.push_back({sh, {std::move(g), "output"}});
  }
  plan->output = out;
  plan->nodes = cone;
  plan->op = "TfforgeAttention";
  plan->out_arg = "y";
  plan->inputs = {query, key, value};
  if (!mask.empty()) plan->inputs.push_back(mask);
  plan->attrs = {{"T", type_attr_value(kFloat)},
                 {"n_mask", int_attr_value(mask.empty() ? 0 : 1)},
                 {"mask_fill", float_attr_value(mask.empty() ? -1e9f : fill)},
                 {"zero_masked", bool_attr_value(zero_masked)},
                 {"scale", float_attr_value(scale)}};
  char fill_text[32];
  std::snprintf(fill_text, sizeof fill_text, "%g", double(fill));
  plan->detail = mask.empty() ? "no mask" : "mask '" + b.display(mask) + "', fill " + fill_text;
  if (!mask.empty() && !zero_masked) plan->detail += ", masked probabilities kept";
  if (scale != 1.f) {
    std::snprintf(fill_text, sizeof fill_text, "%g", double(scale));
    plan->detail += std::string(", scale ") + fill_text;
  }
  return true;
}

}  // namespace

void fuse_attention(GraphDef& g, const PassContext& ctx, std::vector<Site>* report) {
  run_fusion(g, ctx, "attention", {"Softmax"}, match_attention, report);
}

}  // namespace tfforge::graph::fuse

namespace tfforge::graph {

TFFORGE_GRAPH_PASS(fuse_attention) { fuse::fuse_attention(g, ctx, nullptr); }

}  // namespace tfforge::graph
