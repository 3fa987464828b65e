#include "graph/convert_splice.h"

#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "error.h"
#include "io/atomic_file.h"
#include "wire/wire.h"

namespace tfforge::convert {
namespace {

using wire::kLengthDelimited;
using wire::kVarint;

constexpr uint32_t kGraphNode = 1;     // GraphDef.node
constexpr uint32_t kNodeName = 1;      // NodeDef.name
constexpr uint32_t kNodeAttr = 5;      // NodeDef.attr (map<string, AttrValue>)
constexpr uint32_t kAttrTensor = 8;    // AttrValue.tensor
constexpr uint32_t kTensorDtype = 1;   // TensorProto.dtype
constexpr uint32_t kTensorShape = 2;   // TensorProto.tensor_shape
constexpr uint32_t kTensorContent = 4; // TensorProto.tensor_content
constexpr uint32_t kShapeDim = 2;      // TensorShapeProto.dim
constexpr uint32_t kDimSize = 1;       // TensorShapeProto.Dim.size

size_t ld_size(size_t n) { return 1 + wire::varint_size(n) + n; }  // one-byte tag + length + body

// Everything of the `value` attr map entry except the trailing weight bytes.
struct AttrHeader {
  std::vector<uint8_t> bytes;
  size_t total = 0;  // header + weight bytes: what the entry adds to the NodeDef
};

AttrHeader make_value_attr(const ConstPayload& p) {
  wire::Writer shape;
  for (int64_t d : p.shape) {
    shape.tag(kShapeDim, kLengthDelimited);
    shape.varint(1 + wire::varint_size(uint64_t(d)));
    shape.varint_field(kDimSize, uint64_t(d));
  }
  size_t tensor_len = 1 + wire::varint_size(uint64_t(p.dtype)) + ld_size(shape.size()) + ld_size(p.size);
  size_t attr_value_len = ld_size(tensor_len);
  size_t entry_len = ld_size(5) + ld_size(attr_value_len);

  wire::Writer w;
  w.tag(kNodeAttr, kLengthDelimited);
  w.varint(entry_len);
  w.bytes_field(1, "value", 5);
  w.tag(2, kLengthDelimited);
  w.varint(attr_value_len);
  w.tag(kAttrTensor, kLengthDelimited);
  w.varint(tensor_len);
  w.varint_field(kTensorDtype, uint64_t(p.dtype));
  w.bytes_field(kTensorShape, shape.buffer().data(), shape.size());
  w.tag(kTensorContent, kLengthDelimited);
  w.varint(p.size);
  AttrHeader h;
  h.total = ld_size(entry_len);
  h.bytes = std::move(w.buffer());
  return h;
}

std::string_view node_name(wire::Span node, uint64_t base) {
  wire::Reader r(node, base);
  uint32_t field;
  wire::WireType type;
  while (r.next(&field, &type)) {
    if (field == kNodeName && type == kLengthDelimited) {
      wire::Span s = r.bytes();
      return {reinterpret_cast<const char*>(s.data), s.size};
    }
    r.skip(type);
  }
  return {};
}

// io::AtomicFile behind a 1 MB buffer, with the errors named as conversion errors.
class OutFile {
 public:
  explicit OutFile(const std::string& path) : file_(path, "ConversionError") { buf_.reserve(kBuffer); }
  void write(const void* data, size_t n) {
    if (n >= kBuffer / 4) {
      flush();
      file_.write(data, n);
    } else {
      if (buf_.size() + n > kBuffer) flush();
      const uint8_t* b = static_cast<const uint8_t*>(data);
      buf_.insert(buf_.end(), b, b + n);
    }
    written_ += n;
  }
  void varint(uint64_t v) {
    uint8_t tmp[10];
    write(tmp, size_t(wire::put_varint(tmp, v) - tmp));
  }
  uint64_t commit() {
    flush();
    file_.commit();
    return written_;
  }

 private:
  static constexpr size_t kBuffer = size_t(1) << 20;
  void flush() {
    if (!buf_.empty()) file_.write(buf_.data(), buf_.size());
    buf_.clear();
  }
  io::AtomicFile file_;
  std::vector<uint8_t> buf_;
  uint64_t written_ = 0;
};

}  // namespace

uint64_t splice_consts_to_file(const uint8_t* graph, size_t graph_size,
                               const std::vector<ConstPayload>& payloads, const std::string& path) {
  std::unordered_map<std::string_view, size_t> by_name;
  for (size_t i = 0; i < payloads.size(); ++i)
    if (!by_name.emplace(payloads[i].node, i).second)
      throw Error("GraphError", "weights given twice for one node").at_node(payloads[i].node);
  std::vector<bool> used(payloads.size(), false);

  OutFile out(path);
  wire::Reader r(graph, graph_size);
  try {
    uint32_t field;
    wire::WireType type;
    while (!r.done()) {
      const uint8_t* field_start = r.cursor();
      r.next(&field, &type);
      if (field != kGraphNode || type != kLengthDelimited) {
        r.skip(type);
        out.write(field_start, size_t(r.cursor() - field_start));
        continue;
      }
      wire::Span node = r.bytes();
      auto it = by_name.find(node_name(node, r.offset() - node.size));
      if (it == by_name.end()) {
        out.write(field_start, size_t(r.cursor() - field_start));
        continue;
      }
      const ConstPayload& p = payloads[it->second];
      used[it->second] = true;
      AttrHeader h = make_value_attr(p);
      out.varint(wire::make_tag(kGraphNode, kLengthDelimited));
      out.varint(node.size + h.total);
      out.write(node.data, node.size);
      out.write(h.bytes.data(), h.bytes.size());
      out.write(p.data, p.size);
    }
  } catch (const wire::ParseError& e) {
    throw Error("WireFormatError", std::string("malformed GraphDef: ") + e.what()).at_offset(int64_t(e.offset));
  }
  for (size_t i = 0; i < payloads.size(); ++i)
    if (!used[i]) throw Error("GraphError", "the graph has no node of this name to receive weights").at_node(payloads[i].node);
  return out.commit();
}

}  // namespace tfforge::convert
