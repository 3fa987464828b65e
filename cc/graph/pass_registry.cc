#include <algorithm>
#include <map>

#include "error.h"
#include "graph/passes.h"

namespace tfforge::graph {

namespace {
std::map<std::string, PassFn>& registry() {
  static std::map<std::string, PassFn> r;
  return r;
}

[[noreturn]] void syntax_error(const std::string& text, size_t pos, const std::string& msg) {
  throw Error("TransformError", "cannot parse --transforms at character " + std::to_string(pos) + ": " + msg +
                                    " (in '" + text + "')");
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\\'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/'; }
}  // namespace

PassRegistration::PassRegistration(const char* name, PassFn fn) { registry()[name] = fn; }

PassFn find_pass(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second;
}

std::vector<std::string> pass_names() {
  std::vector<std::string> out;
  for (auto& [k, v] : registry()) out.push_back(k);
  return out;
}

bool PassArgs::has(const std::string& k) const {
  return std::any_of(items.begin(), items.end(), [&](auto& kv) { return kv.first == k; });
}

std::string PassArgs::get(const std::string& k, const std::string& fallback) const {
  for (auto& [key, v] : items)
    if (key == k) return v;
  return fallback;
}

std::vector<std::string> PassArgs::all(const std::string& k) const {
  std::vector<std::string> out;
  for (auto& [key, v] : items)
    if (key == k) out.push_back(v);
  return out;
}

bool PassArgs::flag(const std::string& k, bool fallback) const {
  if (!has(k)) return fallback;
  std::string v = get(k);
  if (v == "true" || v == "1" || v == "True" || v.empty()) return true;
  if (v == "false" || v == "0" || v == "False") return false;
  throw Error("TransformError", "argument " + k + "=" + v + " is not a boolean");
}

// The grammar of transform_graph's --transforms: names separated by whitespace, each optionally
// followed by (key=value, ...) where a value is bare (up to , or )) or double-quoted.
std::vector<TransformSpec> parse_transforms(const std::string& text) {
  std::vector<TransformSpec> out;
  size_t i = 0, n = text.size();
  auto skip_space = [&] { while (i < n && is_space(text[i])) ++i; };
  while (true) {
    skip_space();
    if (i >= n) break;
    size_t start = i;
    while (i < n && is_name_char(text[i])) ++i;
    if (i == start) syntax_error(text, i, std::string("expected a transform name, found '") + text[i] + "'");
    TransformSpec spec{text.substr(start, i - start), {}};
    skip_space();
    if (i < n && text[i] == '(') {
      ++i;
      while (true) {
        skip_space();
        if (i < n && text[i] == ')') { ++i; break; }
        size_t ks = i;
        while (i < n && is_name_char(text[i])) ++i;
        if (i == ks) syntax_error(text, i, "expected an argument name");
        std::string key = text.substr(ks, i - ks);
        skip_space();
        if (i >= n || text[i] != '=') syntax_error(text, i, "expected '=' after argument " + key);
        ++i;
        skip_space();
        std::string value;
        if (i < n && (text[i] == '"' || text[i] == '\'')) {
          char q = text[i++];
          while (i < n && text[i] != q) value += text[i++];
          if (i >= n) syntax_error(text, i, "unterminated quoted value for " + key);
          ++i;
        } else {
          while (i < n && text[i] != ',' && text[i] != ')') value += text[i++];
          while (!value.empty() && is_space(value.back())) value.pop_back();
        }
        spec.args.items.emplace_back(key, value);
        skip_space();
        if (i < n && text[i] == ',') { ++i; continue; }
        if (i < n && text[i] == ')') { ++i; break; }
        syntax_error(text, i, "expected ',' or ')' in the arguments of " + spec.name);
      }
    }
    out.push_back(std::move(spec));
  }
  return out;
}

void apply_passes(GraphDef& g, const std::vector<TransformSpec>& specs, const PassContext& ctx) {
  for (auto& s : specs) {
    PassFn fn = find_pass(s.name);
    if (!fn) throw Error("TransformError", "'" + s.name + "' is not a native tfforge pass");
    fn(g, ctx, s.args);
    g.invalidate_index();
  }
}

}  // namespace tfforge::graph
