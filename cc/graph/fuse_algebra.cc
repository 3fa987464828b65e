#include "graph/fuse_algebra.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <unordered_set>

namespace tfforge::graph::fuse {

namespace {

constexpr size_t kMaxTerms = 16;
constexpr int kMaxExponent = 8;

Poly normalize(std::vector<Term> terms) {
  std::map<std::vector<std::pair<int, int>>, double> merged;
  for (auto& t : terms) {
    if (!std::isfinite(t.c)) return Poly::bad();
    for (auto& [a, e] : t.m)
      if (std::abs(e) > kMaxExponent) return Poly::bad();
    merged[t.m] += t.c;
  }
  double scale = 0;
  for (auto& [m, c] : merged) scale = std::max(scale, std::abs(c));
  Poly p;
  for (auto& [m, c] : merged)
    if (c != 0 && std::abs(c) > scale * 1e-12) p.terms.push_back({c, m});
  if (p.terms.size() > kMaxTerms) return Poly::bad();
  return p;
}

std::vector<std::pair<int, int>> multiply(const std::vector<std::pair<int, int>>& a,
                                          const std::vector<std::pair<int, int>>& b) {
  std::map<int, int> e;
  for (auto& [k, v] : a) e[k] += v;
  for (auto& [k, v] : b) e[k] += v;
  std::vector<std::pair<int, int>> out;
  for (auto& [k, v] : e)
    if (v != 0) out.emplace_back(k, v);
  return out;
}

bool algebra_op(const std::string& op) {
  static const std::unordered_set<std::string> ops = {
      "Mul", "Add", "AddV2", "Sub", "Neg", "RealDiv", "Div", "Square", "Pow", "Reciprocal", "Inv",
      "Sqrt", "Rsqrt"};
  return ops.count(op) != 0;
}

bool transcendental_op(const std::string& op) { return op == "Erf" || op == "Erfc" || op == "Tanh"; }

std::string number(double c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", c);  // float32 constants carry 7 digits
  return buf;
}

}  // namespace

Poly Poly::constant(double c) { return normalize({{c, {}}}); }
Poly Poly::atom(int a, int exponent) { return normalize({{1.0, {{a, exponent}}}}); }

bool Poly::is_constant(double* c) const {
  if (!ok) return false;
  if (terms.empty()) { *c = 0; return true; }
  if (terms.size() == 1 && terms[0].m.empty()) { *c = terms[0].c; return true; }
  return false;
}

bool Poly::has_atom(int a) const {
  for (auto& t : terms)
    for (auto& [k, e] : t.m)
      if (k == a) return true;
  return false;
}

Poly operator+(const Poly& a, const Poly& b) {
  if (!a.ok || !b.ok) return Poly::bad();
  std::vector<Term> t = a.terms;
  t.insert(t.end(), b.terms.begin(), b.terms.end());
  return normalize(std::move(t));
}

Poly operator-(const Poly& a) {
  if (!a.ok) return a;
  Poly p = a;
  for (auto& t : p.terms) t.c = -t.c;
  return p;
}

Poly operator-(const Poly& a, const Poly& b) { return a + (-b); }

Poly operator*(const Poly& a, const Poly& b) {
  if (!a.ok || !b.ok || a.terms.size() * b.terms.size() > kMaxTerms * kMaxTerms) return Poly::bad();
  std::vector<Term> t;
  for (auto& x : a.terms)
    for (auto& y : b.terms) t.push_back({x.c * y.c, multiply(x.m, y.m)});
  return normalize(std::move(t));
}

Poly inverse(const Poly& a) {
  if (!a.ok || a.terms.size() != 1 || a.terms[0].c == 0) return Poly::bad();
  Term t = a.terms[0];
  t.c = 1.0 / t.c;
  for (auto& [k, e] : t.m) e = -e;
  return normalize({t});
}

Poly power(const Poly& a, int n) {
  if (n < 0) return inverse(power(a, -n));
  Poly p = Poly::constant(1);
  for (int i = 0; i < n; ++i) p = p * a;
  return p;
}

bool close(double a, double b, int dtype) {
  double tol = dtype == 19 ? 2e-3 : dtype == 14 ? 1e-2 : dtype == 2 ? 1e-9 : 2e-6;
  return std::abs(a - b) <= tol * std::max(std::abs(a), std::abs(b));
}

int Region::atom(const std::string& ref) {
  std::string k = b_.key(ref);
  auto it = atoms_.find(k);
  if (it != atoms_.end()) return it->second;
  int id = int(atom_refs_.size());
  atoms_.emplace(k, id);
  atom_refs_.push_back(ref);
  return id;
}

std::string Region::show(const Poly& p, const std::unordered_map<int, std::string>& names) const {
  if (!p.ok) return "(not an elementwise polynomial)";
  if (p.terms.empty()) return "0";
  std::string out;
  for (auto& t : p.terms) {
    std::string term;
    double c = t.c;
    if (!out.empty()) {
      out += c < 0 ? " - " : " + ";
      c = std::abs(c);
    } else if (c < 0) {
      term = "-";
      c = -c;
    }
    bool first = true;
    if (c != 1 || t.m.empty()) {
      term += number(c);
      first = false;
    }
    for (auto& [a, e] : t.m) {
      auto n = names.find(a);
      std::string name = n != names.end() ? n->second : b_.display(atom_refs_[size_t(a)]);
      term += (first ? "" : "*") + name + (e != 1 ? "^" + std::to_string(e) : "");
      first = false;
    }
    out += term;
  }
  return out;
}

int Region::function_atom(size_t node) const {
  auto it = function_atoms_.find(node);
  return it == function_atoms_.end() ? -1 : it->second;
}

Poly Region::input_value(const std::string& ref, std::vector<size_t>* used) {
  int64_t p = b_.producer(ref);
  if (p >= 0) {
    auto it = value_.find(size_t(p));
    if (it != value_.end() && (size_t(p) != order_.front() || b_.key(ref) == start_key_)) return it->second;
  }
  if (auto c = b_.scalar(ref)) return Poly::constant(*c);
  Poly out;
  if (expand && expand(ref, &out, used)) return out;
  return Poly::atom(atom(ref));
}

void Region::grow(size_t start, const std::string& start_ref, Poly start_value, bool transcendental,
                  size_t max_nodes) {
  start_key_ = b_.key(start_ref);
  // Collect: breadth first over consumers that are elementwise ops.
  std::vector<size_t> members{start};
  std::unordered_set<size_t> in{start};
  for (size_t q = 0; q < members.size() && members.size() < max_nodes; ++q)
    for (auto& u : b_.uses(members[q])) {
      if (u.node < 0 || u.control || in.count(size_t(u.node))) continue;
      const std::string& op = b_.node(size_t(u.node)).op;
      if (!algebra_op(op) && !(transcendental && transcendental_op(op))) continue;
      in.insert(size_t(u.node));
      members.push_back(size_t(u.node));
      if (members.size() >= max_nodes) break;
    }
  // Order: a member after the members it reads.
  std::unordered_map<size_t, int> pending;
  std::unordered_map<size_t, std::vector<size_t>> readers;
  for (size_t m : members) {
    if (m == start) continue;
    for (auto& ref : b_.data_inputs(m)) {
      int64_t p = b_.producer(ref);
      if (p >= 0 && in.count(size_t(p))) {
        ++pending[m];
        readers[size_t(p)].push_back(m);
      }
    }
  }
  std::deque<size_t> ready{start};
  value_[start] = std::move(start_value);
  order_.push_back(start);
  while (!ready.empty()) {
    size_t m = ready.front();
    ready.pop_front();
    for (size_t r : readers[m]) {
      if (--pending[r] != 0) continue;
      ready.push_back(r);
      order_.push_back(r);
      const Node& n = b_.node(r);
      auto ins = b_.data_inputs(r);
      std::vector<size_t> used;
      std::vector<Poly> v;
      for (auto& ref : ins) v.push_back(input_value(ref, &used));
      expanded_[r] = std::move(used);
      Poly out = Poly::bad();
      const std::string& op = n.op;
      size_t k = v.size();
      if ((op == "Mul") && k == 2) out = v[0] * v[1];
      else if ((op == "Add" || op == "AddV2") && k == 2) out = v[0] + v[1];
      else if (op == "Sub" && k == 2) out = v[0] - v[1];
      else if ((op == "RealDiv" || op == "Div") && k == 2) out = v[0] * inverse(v[1]);
      else if (op == "Neg" && k == 1) out = -v[0];
      else if (op == "Square" && k == 1) out = v[0] * v[0];
      else if ((op == "Reciprocal" || op == "Inv") && k == 1) out = inverse(v[0]);
      else if (op == "Identity" && k == 1) out = v[0];
      else if (op == "Pow" && k == 2) {
        double e;
        if (v[1].is_constant(&e) && e == std::floor(e) && std::abs(e) <= 4) out = power(v[0], int(e));
      } else if ((op == "Sqrt" || op == "Rsqrt") && k == 1) {
        double c;
        if (v[0].is_constant(&c) && c > 0) out = Poly::constant(op == "Sqrt" ? std::sqrt(c) : 1 / std::sqrt(c));
      } else if (transcendental_op(op) && k == 1) {
        argument_[r] = v[0];
        int a = atom(b_.ref_to(n.name, "y"));
        function_atoms_[r] = a;
        out = v[0].ok ? Poly::atom(a) : Poly::bad();
      }
      value_[r] = std::move(out);
    }
  }
}

std::vector<size_t> Region::cone(size_t out) const {
  std::vector<size_t> result{out}, stack{out};
  std::unordered_set<size_t> seen{out};
  while (!stack.empty()) {
    size_t n = stack.back();
    stack.pop_back();
    auto e = expanded_.find(n);
    if (e != expanded_.end())
      for (size_t x : e->second)
        if (seen.insert(x).second) result.push_back(x);
    if (n == order_.front()) continue;  // the start node's inputs are outside the region
    for (auto& ref : b_.data_inputs(n)) {
      int64_t p = b_.producer(ref);
      if (p >= 0 && value_.count(size_t(p)) && seen.insert(size_t(p)).second) {
        result.push_back(size_t(p));
        stack.push_back(size_t(p));
      }
    }
  }
  return result;
}

}  // namespace tfforge::graph::fuse
