// What a small elementwise subgraph computes, as a polynomial (with integer exponents, negative ones
// for division) over "atoms": the tensors entering it, the anchor of the pattern (an Rsqrt, an Erf) and
// scalar constants folded into coefficients. Fusion matchers compare such polynomials with the formula
// of the fused op, so every association order, Sub vs Neg+Add, x / sqrt(v) vs x * rsqrt(v) and where the
// constants sit are recognised alike, and a lookalike with one constant off or one extra term is not.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/fuse_body.h"

namespace tfforge::graph::fuse {

struct Term {
  double c = 0;
  std::vector<std::pair<int, int>> m;  // (atom, exponent), sorted by atom, exponents != 0
};

struct Poly {
  bool ok = true;  // false: not expressible (an op outside the algebra, too many terms)
  std::vector<Term> terms;

  static Poly constant(double c);
  static Poly atom(int a, int exponent = 1);
  static Poly bad() { Poly p; p.ok = false; return p; }
  bool is_constant(double* c) const;
  bool has_atom(int a) const;
};

Poly operator+(const Poly& a, const Poly& b);
Poly operator-(const Poly& a);
Poly operator-(const Poly& a, const Poly& b);
Poly operator*(const Poly& a, const Poly& b);
Poly inverse(const Poly& a);  // of a single term only
Poly power(const Poly& a, int n);

// Relative closeness for constants read from a graph in `dtype` (float32 constants carry ~1e-7).
bool close(double a, double b, int dtype);

// Evaluates the elementwise nodes downstream of one node of a Body.
class Region {
 public:
  explicit Region(const Body& body) : b_(body) {}

  int atom(const std::string& ref);  // the atom for a tensor entering the region
  const std::string& atom_ref(int a) const { return atom_refs_[size_t(a)]; }
  std::string show(const Poly& p, const std::unordered_map<int, std::string>& names) const;

  // Called for every input that is not a region node or a scalar constant: may expand it (returning
  // true) into a polynomial; the nodes it used then belong to the pattern of whichever node reads it.
  std::function<bool(const std::string& ref, Poly* out, std::vector<size_t>* used)> expand;

  // Collects up to `max_nodes` elementwise nodes reachable from `start` (whose value is `start_value`)
  // and evaluates them in dependency order. With `transcendental`, Erf/Erfc/Tanh nodes join too, each
  // becoming an atom whose argument is kept (argument()).
  // `start_ref` names the start's output that has that value (its other outputs are plain atoms).
  void grow(size_t start, const std::string& start_ref, Poly start_value, bool transcendental,
            size_t max_nodes = 64);

  const std::vector<size_t>& order() const { return order_; }
  const Poly& value(size_t node) const { return value_.at(node); }
  bool contains(size_t node) const { return value_.count(node) != 0; }
  int function_atom(size_t node) const;     // the atom of an Erf/Erfc/Tanh node, or -1
  const Poly& argument(size_t node) const { return argument_.at(node); }
  // The nodes `out` is computed from inside the region (itself included), plus the expanded inputs.
  std::vector<size_t> cone(size_t out) const;

 private:
  Poly input_value(const std::string& ref, std::vector<size_t>* used);

  const Body& b_;
  std::unordered_map<std::string, int> atoms_;
  std::vector<std::string> atom_refs_;
  std::unordered_map<size_t, Poly> value_;
  std::unordered_map<size_t, Poly> argument_;
  std::unordered_map<size_t, int> function_atoms_;
  std::unordered_map<size_t, std::vector<size_t>> expanded_;
  std::vector<size_t> order_;
  std::string start_key_;
};

}  // namespace tfforge::graph::fuse
