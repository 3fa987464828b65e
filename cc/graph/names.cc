#include "graph/names.h"

#include "graph/schema.h"
#include "graph/sink.h"

namespace tfforge::graph {

using wire::Reader;
using wire::WireType;

bool parse_dtype(const std::string& name, int* dtype) {
  static const std::unordered_map<std::string, int> aliases = {
      {"float", 1}, {"float32", 1}, {"double", 2}, {"float64", 2}, {"int32", 3}, {"uint8", 4},
      {"int16", 5}, {"int8", 6}, {"string", 7}, {"complex64", 8}, {"int64", 9}, {"bool", 10},
      {"qint8", 11}, {"quint8", 12}, {"qint32", 13}, {"bfloat16", 14}, {"qint16", 15}, {"quint16", 16},
      {"uint16", 17}, {"complex128", 18}, {"half", 19}, {"float16", 19}, {"resource", 20},
      {"variant", 21}, {"uint32", 22}, {"uint64", 23}};
  auto it = aliases.find(name);
  if (it != aliases.end()) {
    *dtype = it->second;
    return true;
  }
  return schema::dtype_number(name, dtype);
}

int attr_type_value(Span attr_value) {
  Reader r(attr_value);
  uint32_t f;
  WireType t;
  int v = -1;
  while (r.next(&f, &t)) {
    if (f == 6 && t == wire::kVarint) v = int(r.varint());
    else r.skip(t);
  }
  return v;
}

namespace {

// Rewrites AttrValue{list{s: "loc:@x" ...}} with renamed targets; returns false when unchanged.
bool rename_colocation(Span value, const std::unordered_map<std::string, std::string>& renames, std::string* out) {
  std::vector<std::string> entries;
  bool changed = false;
  Reader r(value);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f != 1 || t != wire::kLengthDelimited) return false;
    Reader lr(r.bytes());
    while (lr.next(&f, &t)) {
      if (f != 2 || t != wire::kLengthDelimited) return false;
      std::string s = lr.bytes().str();
      if (s.rfind("loc:@", 0) == 0) {
        auto it = renames.find(s.substr(5));
        if (it != renames.end()) {
          s = "loc:@" + it->second;
          changed = true;
        }
      }
      entries.push_back(std::move(s));
    }
  }
  if (!changed) return false;
  std::string list;
  StringSink ls(&list);
  for (auto& e : entries) ls.string_field(2, e);
  StringSink os(out);
  os.bytes_field(1, list.data(), list.size());
  return true;
}

}  // namespace

void rename_nodes(GraphDef& g, const std::unordered_map<std::string, std::string>& renames) {
  if (renames.empty()) return;
  for (auto& n : g.nodes) {
    auto it = renames.find(n.name);
    if (it != renames.end()) {
      n.name = it->second;
      n.dirty = true;
    }
    for (auto& in : n.inputs) {
      std::string base = input_node_name(in);
      auto r = renames.find(base);
      if (r == renames.end()) continue;
      bool control = is_control_input(in);
      in = (control ? "^" : "") + r->second + in.substr((control ? 1 : 0) + base.size());
      n.dirty = true;
    }
    for (auto& a : n.attrs) {
      if (a.key != "_class") continue;
      std::string updated;
      if (rename_colocation(a.value, renames, &updated)) {
        a.value = g.own(std::move(updated));
        n.dirty = true;
      }
    }
  }
  g.invalidate_index();
}

}  // namespace tfforge::graph
