#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

size_t PassArgs::count(const std::string& k) const {
  return size_t(std::count_if(items.begin(), items.end(), [&](auto& kv) { return kv.first == k; }));
}

std::vector<std::string> PassArgs::all(const std::string& k) const {
  std::vector<std::string> out;
  for (auto& [key, v] : items)
    if (key == k) out.push_back(v);
  return out;
}

std::string PassArgs::one(const std::string& k, const std::string& fallback) const {
  auto values = all(k);
  if (values.empty()) return fallback;
  if (values.size() > 1)
    throw Error("TransformError", "Expected a single '" + k + "' parameter, but found " +
                                      std::to_string(values.size()) + " occurrences");
  return values[0];
}

int32_t PassArgs::one_int32(const std::string& k, int32_t fallback) const {
  if (!has(k)) return fallback;
  std::string v = one(k);
  size_t b = v.find_first_not_of(" \t\n\r"), e = v.find_last_not_of(" \t\n\r");
  std::string t = b == std::string::npos ? "" : v.substr(b, e - b + 1);
  size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  bool digits = i < t.size() && std::all_of(t.begin() + long(i), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  long long n = 0;
  if (digits) {
    errno = 0;
    n = std::strtoll(t.c_str(), nullptr, 10);
  }
  if (!digits || errno == ERANGE || n < INT32_MIN || n > INT32_MAX)
    throw Error("TransformError", "Couldn't interpret the " + k + " argument as a number:" + v);
  return int32_t(n);
}

bool PassArgs::one_bool(const std::string& k, bool fallback) const {
  if (!has(k)) return fallback;
  std::string v = one(k);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw Error("TransformError",
              "Couldn't interpret the " + k + " argument as a boolean:" + v + " (expected true, false, 0 or 1)");
}

std::string PassArgs::exactly_one(const std::string& k, const std::string& usage) const {
  if (count(k) != 1) throw Error("TransformError", usage);
  return all(k)[0];
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

namespace {
// transform_graph's ShouldIgnoreErrors: the first ignore_errors value, compared without case.
bool ignore_errors(const TransformSpec& s) {
  auto values = s.args.all("ignore_errors");
  if (values.empty()) return false;
  std::string v = values[0];
  for (auto& c : v) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (v == "true") return true;
  if (v == "false") return false;
  throw Error("TransformError", s.name + ": ignore_errors should be true or false, found " + v);
}
}  // namespace

void apply_passes(GraphDef& g, const std::vector<TransformSpec>& specs, const PassContext& ctx) {
  for (auto& s : specs) {
    PassFn fn = find_pass(s.name);
    if (!fn) throw Error("TransformError", "'" + s.name + "' is not a native tfforge pass");
    if (!ignore_errors(s)) {
      fn(g, ctx, s.args);
      g.invalidate_index();
      continue;
    }
    GraphDef before = g;
    try {
      fn(g, ctx, s.args);
    } catch (const Error& e) {
      std::fprintf(stderr, "tfforge: %s: ignoring error (ignore_errors=true): %s\n", s.name.c_str(), e.what());
      g = std::move(before);
    }
    g.invalidate_index();
  }
}

}  // namespace tfforge::graph
