// Fusion passes: fuse_layer_norm, fuse_rms_norm and fuse_bias_gelu rewrite the subgraphs Keras,
// tf.keras, keras-hub and hand-written TF1 code build for LayerNorm, RMSNorm and bias + GELU into
// tfforge's ops (TfforgeLayerNorm, TfforgeRMSNorm, TfforgeBiasGelu), in the GraphDef's own nodes and in
// every library function. A matcher finds candidate sites from an anchor node (Rsqrt/Sqrt, Erf/Erfc/Tanh),
// checks every constant, axis, shape and consumer, and either plans a rewrite or says why not; the
// report lists both, for `tfforge optimize --explain`. Linear in the graph: each anchor looks at a
// bounded neighbourhood.
#pragma once

#include <string>
#include <vector>

#include "graph/fuse_algebra.h"
#include "graph/fuse_body.h"
#include "graph/passes.h"

namespace tfforge::graph::fuse {

struct Site {
  std::string pattern;   // layer_norm | rms_norm | bias_gelu
  std::string function;  // empty: the GraphDef's own nodes
  std::string anchor;    // the node the site was found from
  std::string output;    // the node the fused op replaced (fused sites)
  bool fused = false;
  std::string reason;  // why not (sites not fused)
  std::string detail;  // what was fused: epsilon, approximate, bias
};

// A planned rewrite: `output` becomes a node of `op` with `inputs` and `attrs`; the other `nodes` go.
struct Plan {
  size_t output = 0;
  std::vector<size_t> nodes;  // every node of the pattern, output included
  std::string op;
  std::vector<std::string> inputs;
  std::vector<std::pair<std::string, std::string>> attrs;  // key -> AttrValue bytes
  std::vector<Node> helpers;                               // new nodes the inputs read (constants, reshapes)
  std::string detail;
  std::string out_arg = "y";  // the name of `op`'s output in its op definition
  // Nodes outside `nodes` that read a removed node and are rebuilt from other inputs (a Shape of an
  // intermediate, computed from the pattern's inputs): node index -> its new node (same name) and output arg.
  std::vector<std::pair<size_t, std::pair<Node, std::string>>> rewired;
};

// Tries the site at `anchor`: true with a plan, or false with `reason` (empty reason: not a candidate
// of this pattern at all, so not reported).
using Matcher = bool (*)(Body& body, size_t anchor, const std::vector<bool>& claimed, Plan* plan,
                         std::string* reason);

// Runs `match` over every node of the graph and of each library function, applies the plans that do not
// overlap, and appends every candidate site to `report` when given.
void run_fusion(GraphDef& g, const PassContext& ctx, const char* pattern, const std::vector<std::string>& anchors,
                Matcher match, std::vector<Site>* report);

// The passes, with the report of every candidate site.
void fuse_layer_norm(GraphDef& g, const PassContext& ctx, std::vector<Site>* report);
void fuse_rms_norm(GraphDef& g, const PassContext& ctx, std::vector<Site>* report);
void fuse_bias_gelu(GraphDef& g, const PassContext& ctx, std::vector<Site>* report);
void fuse_projection(GraphDef& g, const PassContext& ctx, std::vector<Site>* report);
void fuse_attention(GraphDef& g, const PassContext& ctx, std::vector<Site>* report);

// --- helpers shared by the matchers ---

std::string type_attr_value(int dtype);
std::string float_attr_value(float v);
std::string bool_attr_value(bool v);
std::string int_attr_value(int64_t v);
std::string string_attr_value(const std::string& v);
// A new node (dirty, to be encoded) with the attrs' AttrValue bytes owned by b's graph.
Node make_node(Body& b, const std::string& name, const std::string& op, std::vector<std::string> inputs,
               std::vector<std::pair<std::string, std::string>> attrs);
// A Const int32 vector (a scalar when `scalar`), with a control input on `after` when not empty.
std::string int32_vector(Body& b, const std::string& name, const std::vector<int32_t>& values,
                         std::vector<Node>* helpers, const std::string& after = {}, bool scalar = false);
const char* dtype_name(int dtype);
bool fusable_dtype(int dtype);  // float32, float16, bfloat16: what the tfforge ops take

// Checks that every node of `cone` but `output` is read only inside `cone`; otherwise the message
// naming the node and its extra consumer.
std::string check_consumers(const Body& b, const std::vector<size_t>& cone, size_t output);
// Whether a reduction over `axes` of `x` is over its last axis alone; otherwise why not.
std::string check_last_axis(const Body& b, const std::string& x, const std::string& axes_ref);

// A per-channel parameter (gamma, beta, bias) for an op over x's last axis of size `channels` (-1:
// unknown): the tensor to feed the op (a vector), adding a Reshape to helpers when it is stored as
// [1, ..., 1, C]. Returns false with the reason when it is not provably such a vector.
bool channel_vector(Body& b, const std::string& what, const std::string& ref, const std::string& x, int dtype,
                    const std::string& scope, std::string* out, std::vector<Node>* helpers, std::string* reason);
// The size of x's last axis when the graph states it, else -1.
int64_t last_dim(const Body& b, const std::string& x);
// A Const vector of `n` copies of `value` (0 or 1) in dtype.
std::string filled_vector(Body& b, const std::string& scope, int dtype, int64_t n, double value,
                          std::vector<Node>* helpers);

}  // namespace tfforge::graph::fuse
