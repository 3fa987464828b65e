#include "checkpoint/object_graph.h"

namespace tfforge::checkpoint {
namespace {

// Calls fn(field, type, field_bytes_with_tag, reader_after_tag) for each field of a message.
template <typename Fn>
void each_field(wire::Span msg, uint64_t base, Fn fn) {
  wire::Reader r(msg, base);
  uint32_t field;
  wire::WireType type;
  while (true) {
    const uint8_t* start = r.cursor();
    if (!r.next(&field, &type)) return;
    wire::Reader at = r;
    r.skip(type);
    fn(field, type, wire::Span{start, size_t(r.cursor() - start)}, at);
  }
}

ObjectAttribute read_attribute(wire::Reader& r, int node) {
  wire::Span bytes = r.bytes();
  ObjectAttribute a{node, {}, {}, {}};
  each_field(bytes, r.offset() - bytes.size, [&](uint32_t f, wire::WireType t, wire::Span, wire::Reader fr) {
    if (t != wire::kLengthDelimited) return;
    if (f == 1) a.name = fr.bytes().str();
    else if (f == 2) a.full_name = fr.bytes().str();
    else if (f == 3) a.checkpoint_key = fr.bytes().str();
  });
  return a;
}

}  // namespace

std::vector<ObjectAttribute> object_graph_attributes(wire::Span graph) {
  std::vector<ObjectAttribute> out;
  int node = 0;
  each_field(graph, 0, [&](uint32_t f, wire::WireType t, wire::Span, wire::Reader r) {
    if (f != 1 || t != wire::kLengthDelimited) return;
    wire::Span obj = r.bytes();
    each_field(obj, r.offset() - obj.size, [&](uint32_t of, wire::WireType ot, wire::Span, wire::Reader orr) {
      if (of == 2 && ot == wire::kLengthDelimited) out.push_back(read_attribute(orr, node));
    });
    ++node;
  });
  return out;
}

std::string rewrite_object_graph(
    wire::Span graph, const std::map<std::string, std::optional<std::pair<std::string, std::string>>>& changes) {
  wire::Writer out;
  each_field(graph, 0, [&](uint32_t f, wire::WireType t, wire::Span whole, wire::Reader r) {
    if (f != 1 || t != wire::kLengthDelimited) return out.append(whole.data, whole.size);
    wire::Span obj = r.bytes();
    wire::Writer node;
    each_field(obj, r.offset() - obj.size, [&](uint32_t of, wire::WireType ot, wire::Span owhole, wire::Reader orr) {
      if (of != 2 || ot != wire::kLengthDelimited) return node.append(owhole.data, owhole.size);
      wire::Reader copy = orr;
      ObjectAttribute a = read_attribute(copy, 0);
      auto it = changes.find(a.checkpoint_key);
      if (it == changes.end()) return node.append(owhole.data, owhole.size);
      if (!it->second) return;  // dropped
      wire::Span attr = orr.bytes();
      wire::Writer w;
      each_field(attr, orr.offset() - attr.size, [&](uint32_t af, wire::WireType, wire::Span awhole, wire::Reader) {
        if (af == 2) w.bytes_field(2, it->second->second.data(), it->second->second.size());
        else if (af == 3) w.bytes_field(3, it->second->first.data(), it->second->first.size());
        else w.append(awhole.data, awhole.size);
      });
      node.bytes_field(2, w.buffer().data(), w.size());
    });
    out.bytes_field(1, node.buffer().data(), node.size());
  });
  return std::string(out.buffer().begin(), out.buffer().end());
}

}  // namespace tfforge::checkpoint
