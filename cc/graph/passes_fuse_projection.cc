// fuse_projection: a dense projection of the last axes of x by a shared weight, written as a batched
// product, into one 2-D MatMul with its bias as a BiasAdd (which grappler's remapper then fuses into
// _FusedMatMul on CPU):
//   BatchMatMulV2(x[..., K], W[K, N])                         Keras 3 EinsumDense, tf.matmul(x3d, W)
//   Einsum("abc,cde->abde", x, W[K..., N...]) and kin          tf-keras EinsumDense, tf.einsum
// each optionally followed by a Reshape (to [..., N...] with the trailing dims the bias has) and a bias
// add of a parameter over the output dims, becomes
//   Reshape(x, [-1, K]) -> MatMul(W as [K, N]) -> BiasAdd(bias as [N]) -> Reshape(shape(x)[:-k] + [N...])
// TensorFlow runs a batched product with a broadcast weight as one GEMM per batch entry and the bias as
// a separate pass over the output; the 2-D form is one GEMM over all rows with the bias in its epilogue.
// The last Reshape restores the shape and fails at run time, as the original would, when x's contracted
// size is not W's (an EnsureShape checks each contracted axis when there are several).
#include <algorithm>
#include <unordered_set>

#include "graph/fuse.h"
#include "graph/tensor.h"

namespace tfforge::graph::fuse {

namespace {

struct Equation {
  size_t contracted = 0, x_rank = 0, w_rank = 0, out_rank = 0;
  std::vector<int> w_perm;  // w's axes in the order [contracted as in x, the rest as in the output]
};

// What a product contracts: x's last `contracted` axes with W's first ones; the output is x's other
// (leading) axes followed by W's remaining axes `out_dims`.
struct Product {
  std::string x, w;
  bool transpose_w = false;  // BatchMatMul adj_y: W is stored [N, K]
  size_t contracted = 1;
  int64_t k = 0, n = 0;
  std::vector<int64_t> contracted_dims, out_dims;
  Equation eq;  // Einsum only
};

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= d[i];
  return p;
}

// "abc,cde->abde": x's trailing letters are W's leading ones, in order, and the output is x's other
// letters followed by W's other letters. Empty on success, else why not.
std::string parse_equation(const std::string& eq, Equation* e) {
  size_t comma = eq.find(','), arrow = eq.find("->");
  if (comma == std::string::npos || arrow == std::string::npos || arrow < comma)
    return "the equation '" + eq + "' is not of the form x,w->out";
  std::string xs = eq.substr(0, comma), ws = eq.substr(comma + 1, arrow - comma - 1), os = eq.substr(arrow + 2);
  for (auto* s : {&xs, &ws, &os}) {
    s->erase(std::remove(s->begin(), s->end(), ' '), s->end());
    if (s->find('.') != std::string::npos) return "the equation '" + eq + "' has an ellipsis";
    std::unordered_set<char> seen;
    for (char c : *s)
      if (!seen.insert(c).second) return "the equation '" + eq + "' repeats a letter in one operand";
  }
  // the contracted letters: in x and w, not in the output; they must be x's trailing axes
  std::string contracted;
  for (char ch : xs)
    if (ws.find(ch) != std::string::npos && os.find(ch) == std::string::npos) contracted += ch;
  size_t c = contracted.size();
  if (c == 0) return "the equation '" + eq + "' contracts no axis of x with w";
  if (xs.compare(xs.size() - c, c, contracted) != 0)
    return "the equation '" + eq + "' contracts axes of x other than its last ones";
  std::string batch = xs.substr(0, xs.size() - c), rest;
  for (char ch : os)
    if (batch.find(ch) == std::string::npos) rest += ch;
  if (os != batch + rest) return "the equation '" + eq + "' does not keep x's leading axes first in the output";
  if (ws.size() != c + rest.size()) return "the equation '" + eq + "' sums an axis of w away or shares one with x";
  e->w_perm.clear();
  for (char ch : contracted + rest) {
    size_t at = ws.find(ch);
    if (at == std::string::npos) return "the equation '" + eq + "' has an output axis from neither operand";
    e->w_perm.push_back(int(at));
  }
  e->contracted = c;
  e->x_rank = xs.size();
  e->w_rank = ws.size();
  e->out_rank = os.size();
  return {};
}

std::string dims_text(const std::vector<int64_t>& d) {
  std::string out = "[";
  for (size_t i = 0; i < d.size(); ++i) out += (i ? ", " : "") + std::to_string(d[i]);
  return out + "]";
}

// Reads the product at `anchor`; false with the reason when it is not a shared-weight projection.
bool read_product(const Body& b, size_t anchor, Product* p, std::string* reason) {
  const Node& n = b.node(anchor);
  auto ins = b.data_inputs(anchor);
  if (ins.size() != 2) return false;
  p->x = ins[0];
  p->w = ins[1];
  if (!b.is_param(p->w)) return false;  // a product of two activations (attention): not a projection
  auto ws = b.shape(p->w);
  if (n.op == "Einsum") {
    auto eq = b.string_attr(anchor, "equation");
    if (!eq) return false;
    std::string why = parse_equation(*eq, &p->eq);
    if (!why.empty()) {
      *reason = why;
      return false;
    }
    p->contracted = p->eq.contracted;
    if (!ws || ws->dims.size() != p->eq.w_rank) {
      *reason = "the weight '" + b.display(p->w) + "' has no static shape of rank " + std::to_string(p->eq.w_rank);
      return false;
    }
  } else {
    if (b.bool_attr(anchor, "adj_x").value_or(false)) {
      *reason = "x is adjoint (adj_x)";
      return false;
    }
    p->transpose_w = b.bool_attr(anchor, "adj_y").value_or(false);
    if (!ws || ws->dims.size() != 2) {
      *reason = "the weight '" + b.display(p->w) + "' is not a matrix of static shape [K, N] shared by the batch";
      return false;
    }
  }
  for (int64_t d : ws->dims)
    if (d <= 0) {
      *reason = "the weight '" + b.display(p->w) + "' has shape " + dims_text(ws->dims) + ", not fully known";
      return false;
    }
  std::vector<int64_t> d = ws->dims;
  if (p->transpose_w) std::swap(d[0], d[1]);
  if (n.op == "Einsum")
    for (size_t i = 0; i < d.size(); ++i) d[i] = ws->dims[size_t(p->eq.w_perm[i])];
  p->contracted_dims.assign(d.begin(), d.begin() + long(p->contracted));
  p->out_dims.assign(d.begin() + long(p->contracted), d.end());
  p->k = product(d, 0, p->contracted);
  p->n = product(d, p->contracted, d.size());
  if (p->k > (int64_t(1) << 31) || p->n > (int64_t(1) << 31)) {
    *reason = "the weight '" + b.display(p->w) + "' is too large for a MatMul";
    return false;
  }
  // x's contracted axes, when the graph states them, must be W's (the original would fail otherwise)
  if (auto xs = b.shape(p->x)) {
    if (xs->dims.size() < p->contracted + 1) {
      *reason = "x '" + b.display(p->x) + "' has rank " + std::to_string(xs->dims.size());
      return false;
    }
    for (size_t i = 0; i < p->contracted; ++i) {
      int64_t xd = xs->dims[xs->dims.size() - p->contracted + i];
      if (xd >= 0 && xd != p->contracted_dims[i]) {
        *reason = "x '" + b.display(p->x) + "' has shape " + dims_text(xs->dims) + ", which the weight " +
                  dims_text(ws->dims) + " does not contract";
        return false;
      }
    }
  }
  return true;
}

// The only consumer of node i (a data input, not external), or -1.
int64_t sole_consumer(const Body& b, size_t i) {
  const auto& us = b.uses(i);
  if (us.size() != 1 || us[0].node < 0 || us[0].control) return -1;
  return us[0].node;
}

// A bias add reading `t` (of rank `rank`, 0: unknown) whose bias, a parameter, covers exactly the
// trailing dims `tail` of t: the bias tensor, or empty.
std::string bias_of(const Body& b, size_t add, const std::string& t_key, const std::vector<int64_t>& tail, size_t rank,
                    int dtype) {
  const Node& n = b.node(add);
  auto ins = b.data_inputs(add);
  if (ins.size() != 2 || b.type_attr(add) != dtype) return {};
  if (n.op == "BiasAdd") {
    auto format = b.string_attr(add, "data_format");
    if ((format && *format != "NHWC") || b.key(ins[0]) != t_key || tail.size() != 1) return {};
    auto s = b.shape(ins[1]);
    if (!b.is_param(ins[1]) || !s || s->dims.size() != 1 || s->dims[0] != tail[0]) return {};
    return ins[1];
  }
  if (n.op != "Add" && n.op != "AddV2") return {};
  for (int k = 0; k < 2; ++k) {
    if (b.key(ins[size_t(1 - k)]) != t_key) continue;
    const std::string& bias = ins[size_t(k)];
    auto s = b.shape(bias);
    // a bias of higher rank than t would broadcast t itself
    if (!b.is_param(bias) || !s || s->dims.empty() || s->dims.size() > std::max(rank, tail.size())) continue;
    size_t lead = 0;  // leading 1s broadcast over t's leading axes
    while (s->dims.size() - lead > tail.size() && s->dims[lead] == 1) ++lead;
    std::vector<int64_t> rest(s->dims.begin() + long(lead), s->dims.end());
    // all of the trailing dims: a bias over fewer of them would repeat across the others
    if (rest != tail) continue;
    return bias;
  }
  return {};
}

bool match_projection(Body& b, size_t anchor, const std::vector<bool>&, Plan* plan, std::string* reason) {
  const Node& an = b.node(anchor);
  int dtype = b.type_attr(anchor);
  if (an.op == "BatchMatMulV3") {
    int ta = b.type_attr(anchor, "Ta"), tb = b.type_attr(anchor, "Tb"), tout = b.type_attr(anchor, "Tout");
    dtype = (ta == tb && tb == tout) ? ta : -1;
  }
  Product p;
  if (!read_product(b, anchor, &p, reason)) return false;
  if (!fusable_dtype(dtype)) {
    *reason = std::string("the product is ") + dtype_name(dtype) + "; the rewrite takes float32, float16 or bfloat16";
    return false;
  }
  // what follows: [Reshape to [..., N...]] then a bias add over N
  std::vector<size_t> cone = {anchor};
  size_t out = anchor;
  std::string bias, reshape_shape, out_key = b.key(b.ref_to(an.name, "output"));
  size_t out_rank = 0;  // the product's rank: from the equation, or x's known rank
  if (an.op == "Einsum") {
    out_rank = p.eq.out_rank;
  } else if (auto xs = b.shape(p.x)) {
    out_rank = xs->dims.size();
  }
  int64_t next = sole_consumer(b, anchor);
  std::string detail;
  if (next >= 0 && b.node(size_t(next)).op == "Reshape" && b.data_inputs(size_t(next)).size() == 2 &&
      b.key(b.data_inputs(size_t(next))[0]) == out_key && b.type_attr(size_t(next)) == dtype) {
    // Keras 3 EinsumDense: BatchMatMulV2 -> Reshape([..., heads, size]) -> AddV2(bias [heads, size])
    auto sh = b.ints(b.data_inputs(size_t(next))[1]);
    int64_t add = sole_consumer(b, size_t(next));
    if (sh && add >= 0) {
      std::vector<int64_t> tail;
      int64_t prod = 1;
      for (size_t i = sh->size(); i-- > 0 && prod < p.n;) {
        if ((*sh)[i] <= 0) break;
        prod *= (*sh)[i];
        tail.insert(tail.begin(), (*sh)[i]);
      }
      std::string rkey = b.key(b.ref_to(b.node(size_t(next)).name, "output"));
      if (prod == p.n) bias = bias_of(b, size_t(add), rkey, tail, sh->size(), dtype);
      if (!bias.empty()) {
        reshape_shape = b.data_inputs(size_t(next))[1];
        cone.push_back(size_t(next));
        cone.push_back(size_t(add));
        out = size_t(add);
      }
    }
  } else if (next >= 0) {
    bias = bias_of(b, size_t(next), out_key, p.out_dims, out_rank, dtype);
    if (!bias.empty()) {
      cone.push_back(size_t(next));
      out = size_t(next);
    }
  }
  std::string scope = b.node(out).name + "/tfforge_projection";
  std::vector<Node> h;
  auto ref = [&](const std::string& name) { return b.ref_to(name, "output"); };
  std::string x = p.x;
  if (p.contracted > 1) {  // each contracted axis checked at run time, as the Einsum would
    // x's rank from the equation: the batch axes of any size, then the contracted dims
    std::vector<int64_t> want(p.eq.x_rank - p.contracted, -1);
    want.insert(want.end(), p.contracted_dims.begin(), p.contracted_dims.end());
    std::string name = b.fresh_name(scope + "/check_x");
    h.push_back(make_node(b, name, "EnsureShape", {x},
                          {{"T", type_attr_value(dtype)}, {"shape", encode_shape_attr(Shape{false, want})}}));
    x = ref(name);
  }
  // In a GraphDef the constants run after x's producer: that puts them in x's frame when x is inside a
  // TF1 while loop (as TensorFlow puts a loop body's constants there, with a control edge).
  std::string after;
  if (b.function().empty() && b.producer(p.x) >= 0) after = b.node(size_t(b.producer(p.x))).name;
  auto int32 = [&](const char* what, std::vector<int32_t> v, bool scalar = false) {
    return int32_vector(b, scope + "/" + what, v, &h, after, scalar);
  };
  std::string rows = b.fresh_name(scope + "/rows");
  h.push_back(make_node(b, rows, "Reshape", {x, int32("rows_shape", {-1, int32_t(p.k)})},
                        {{"T", type_attr_value(dtype)}, {"Tshape", type_attr_value(3)}}));
  std::string w = p.w;
  bool permuted = false;
  for (size_t i = 0; i < p.eq.w_perm.size(); ++i) permuted |= p.eq.w_perm[i] != int(i);
  if (permuted) {  // what the Einsum kernel does on every call too
    std::string name = b.fresh_name(scope + "/weight_transposed");
    std::vector<int32_t> perm(p.eq.w_perm.begin(), p.eq.w_perm.end());
    h.push_back(make_node(b, name, "Transpose", {w, int32("weight_perm", perm)},
                          {{"T", type_attr_value(dtype)}, {"Tperm", type_attr_value(3)}}));
    w = b.ref_to(name, "y");
  }
  if (p.contracted != 1 || p.out_dims.size() != 1) {
    std::string name = b.fresh_name(scope + "/weight");
    h.push_back(make_node(b, name, "Reshape", {w, int32("weight_shape", {int32_t(p.k), int32_t(p.n)})},
                          {{"T", type_attr_value(dtype)}, {"Tshape", type_attr_value(3)}}));
    w = ref(name);
  }
  std::string mm = b.fresh_name(scope + "/MatMul");
  h.push_back(make_node(b, mm, "MatMul", {ref(rows), w},
                        {{"T", type_attr_value(dtype)},
                         {"transpose_a", bool_attr_value(false)},
                         {"transpose_b", bool_attr_value(p.transpose_w)}}));
  std::string y = b.ref_to(mm, "product");
  if (!bias.empty()) {
    std::string bvec = bias;
    auto bs = b.shape(bias);
    if (!bs || bs->dims.size() != 1) {
      std::string name = b.fresh_name(scope + "/bias");
      h.push_back(make_node(b, name, "Reshape", {bias, int32("bias_shape", {int32_t(p.n)})},
                            {{"T", type_attr_value(dtype)}, {"Tshape", type_attr_value(3)}}));
      bvec = ref(name);
    }
    std::string ba = b.fresh_name(scope + "/BiasAdd");
    h.push_back(make_node(b, ba, "BiasAdd", {y, bvec},
                          {{"T", type_attr_value(dtype)}, {"data_format", string_attr_value("NHWC")}}));
    y = ref(ba);
    detail = "bias '" + b.display(bias) + "', ";
  }
  // shape(x)[:-contracted] + out_dims
  std::string shp = b.fresh_name(scope + "/x_shape");
  h.push_back(make_node(b, shp, "Shape", {p.x}, {{"T", type_attr_value(dtype)}, {"out_type", type_attr_value(3)}}));
  std::string lead = b.fresh_name(scope + "/batch_dims");
  h.push_back(make_node(b, lead, "StridedSlice",
                        {ref(shp), int32("begin", {0}), int32("end", {-int32_t(p.contracted)}), int32("strides", {1})},
                        {{"T", type_attr_value(3)}, {"Index", type_attr_value(3)},
                         {"begin_mask", int_attr_value(1)}, {"end_mask", int_attr_value(0)},
                         {"ellipsis_mask", int_attr_value(0)}, {"new_axis_mask", int_attr_value(0)},
                         {"shrink_axis_mask", int_attr_value(0)}}));
  std::vector<int32_t> od(p.out_dims.begin(), p.out_dims.end());
  std::string axis = int32("axis", {0}, true);
  std::string cat = b.fresh_name(scope + "/out_shape");
  h.push_back(make_node(b, cat, "ConcatV2", {ref(lead), int32("out_dims", od), axis},
                        {{"N", int_attr_value(2)}, {"T", type_attr_value(3)}, {"Tidx", type_attr_value(3)}}));
  std::vector<std::string> final_in = {y, ref(cat)};
  if (!reshape_shape.empty()) {  // then the Reshape the graph had
    std::string name = b.fresh_name(scope + "/Reshape");
    h.push_back(make_node(b, name, "Reshape", final_in, {{"T", type_attr_value(dtype)}, {"Tshape", type_attr_value(3)}}));
    final_in = {ref(name), reshape_shape};
  }
  std::string why = check_consumers(b, cone, out);
  if (!why.empty()) {
    *reason = why;
    return false;
  }
  int shape_type = reshape_shape.empty() ? 3 : b.type_attr(cone[1], "Tshape");
  plan->output = out;
  plan->nodes = cone;
  plan->op = "Reshape";
  plan->out_arg = "output";
  plan->inputs = final_in;
  plan->attrs = {{"T", type_attr_value(dtype)}, {"Tshape", type_attr_value(shape_type < 0 ? 3 : shape_type)}};
  plan->helpers = std::move(h);
  plan->detail = detail + "K " + std::to_string(p.k) + ", N " + std::to_string(p.n);
  return true;
}

}  // namespace

void fuse_projection(GraphDef& g, const PassContext& ctx, std::vector<Site>* report) {
  run_fusion(g, ctx, "projection", {"BatchMatMulV2", "BatchMatMul", "BatchMatMulV3", "Einsum"}, match_projection,
             report);
}

}  // namespace tfforge::graph::fuse

namespace tfforge::graph {

TFFORGE_GRAPH_PASS(fuse_projection) { fuse::fuse_projection(g, ctx, nullptr); }

}  // namespace tfforge::graph
