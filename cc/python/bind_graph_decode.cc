// Schema-driven decoding of small protobuf messages (AttrValue, TensorProto, MetaGraphDef headers)
// into Python dicts, with field names as keys, enums as their names and maps as dicts.
#include "graph/schema.h"
#include "graph/text_format.h"
#include "python/buffer.h"
#include "python/graph_decode.h"
#include "python/registry.h"
#include "error.h"

namespace py = pybind11;
namespace schema = tfforge::graph::schema;
using tfforge::wire::Reader;
using tfforge::wire::Span;
using tfforge::wire::WireType;

namespace tfforge::py {

namespace {

int64_t zigzag(uint64_t v) { return int64_t(v >> 1) ^ -int64_t(v & 1); }

pybind11::object scalar(const schema::FieldDef& f, Reader& r, WireType t) {
  switch (f.type) {
    case schema::kDouble: { uint64_t v = r.fixed64(); double d; std::memcpy(&d, &v, 8); return pybind11::float_(d); }
    case schema::kFloat: { uint32_t v = r.fixed32(); float d; std::memcpy(&d, &v, 4); return pybind11::float_(d); }
    case schema::kInt64: return pybind11::int_(int64_t(r.varint()));
    case schema::kUint64: return pybind11::int_(r.varint());
    case schema::kInt32: return pybind11::int_(int32_t(r.varint()));
    case schema::kUint32: return pybind11::int_(uint32_t(r.varint()));
    case schema::kFixed64: return pybind11::int_(r.fixed64());
    case schema::kSfixed64: return pybind11::int_(int64_t(r.fixed64()));
    case schema::kFixed32: return pybind11::int_(r.fixed32());
    case schema::kSfixed32: return pybind11::int_(int32_t(r.fixed32()));
    case schema::kBool: return pybind11::bool_(r.varint() != 0);
    case schema::kSint32: case schema::kSint64: return pybind11::int_(zigzag(r.varint()));
    case schema::kEnum: {
      int v = int32_t(r.varint());
      const char* name = schema::enum_name(schema::enum_at(f.ref), v);
      if (name) return pybind11::str(name);
      return pybind11::int_(v);
    }
    default: r.skip(t); return pybind11::none();
  }
}

bool wire_matches(const schema::FieldDef& f, WireType t) {
  switch (f.type) {
    case schema::kDouble: case schema::kFixed64: case schema::kSfixed64: return t == tfforge::wire::kFixed64;
    case schema::kFloat: case schema::kFixed32: case schema::kSfixed32: return t == tfforge::wire::kFixed32;
    case schema::kString: case schema::kBytes: case schema::kMessage: return t == tfforge::wire::kLengthDelimited;
    default: return t == tfforge::wire::kVarint;
  }
}

thread_local int decode_depth = 0;

pybind11::object value_of(const schema::FieldDef& f, Reader& r) {
  if (f.type == schema::kMessage) return decode_message(schema::message_at(f.ref), r.bytes());
  Span s = r.bytes();
  if (f.type == schema::kString)
    return pybind11::reinterpret_steal<pybind11::object>(
        PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(s.data), Py_ssize_t(s.size), "replace"));
  return pybind11::bytes(reinterpret_cast<const char*>(s.data), s.size);
}

}  // namespace

pybind11::object decode_message(const schema::MessageDef& m, Span bytes) {
  if (decode_depth >= tfforge::graph::kMaxTextDepth) throw tfforge::wire::ParseError(0, "messages nested too deeply");
  ++decode_depth;
  struct Leave {
    ~Leave() { --decode_depth; }
  } leave;
  pybind11::dict out;
  Reader r(bytes);
  uint32_t num;
  WireType t;
  while (r.next(&num, &t)) {
    const schema::FieldDef* f = schema::field_by_number(m, num);
    if (!f) {
      r.skip(t);
      continue;
    }
    const char* name = f->name;
    if (f->type == schema::kMessage && schema::message_at(f->ref).map_entry) {
      pybind11::dict entry = decode_message(schema::message_at(f->ref), r.bytes());
      if (!out.contains(name)) out[name] = pybind11::dict();
      pybind11::object key = entry.contains("key") ? entry["key"] : pybind11::object(pybind11::str(""));
      out[name][key] = entry.contains("value") ? entry["value"] : pybind11::object(pybind11::none());
      continue;
    }
    bool scalar_type = f->type != schema::kString && f->type != schema::kBytes && f->type != schema::kMessage;
    if (f->repeated) {
      if (!out.contains(name)) out[name] = pybind11::list();
      pybind11::list lst = out[name];
      if (scalar_type && t == tfforge::wire::kLengthDelimited) {  // packed run
        Reader pr(r.bytes());
        while (!pr.done()) lst.append(scalar(*f, pr, tfforge::wire::kVarint));
      } else if (scalar_type ? wire_matches(*f, t) : t == tfforge::wire::kLengthDelimited) {
        lst.append(scalar_type ? scalar(*f, r, t) : value_of(*f, r));
      } else {
        r.skip(t);
      }
      continue;
    }
    if (scalar_type ? !wire_matches(*f, t) : t != tfforge::wire::kLengthDelimited) {
      r.skip(t);
      continue;
    }
    out[name] = scalar_type ? scalar(*f, r, t) : value_of(*f, r);
  }
  return std::move(out);
}

pybind11::object decode_message(const std::string& name, Span bytes) {
  const schema::MessageDef* m = schema::message(name);
  if (!m) throw pybind11::value_error("unknown message type " + name);
  try {
    return decode_message(*m, bytes);
  } catch (const tfforge::wire::ParseError& e) {
    throw tfforge::Error("WireFormatError", std::string("malformed ") + name + ": " + e.what()).at_offset(int64_t(e.offset));
  }
}

}  // namespace tfforge::py

TFFORGE_BINDINGS(graph_decode) {
  m.def("decode_message", [](const std::string& name, const py::object& data) {
    auto view = tfforge::py::byte_view(data);
    return tfforge::py::decode_message(name, Span{view.data(), view.size()});
  }, py::arg("message_type"), py::arg("data"),
  "Decodes protobuf wire bytes of a TensorFlow message (e.g. 'tensorflow.SignatureDef') into a dict.");
  m.def("dtype_name", [](int dtype) -> py::object {
    const char* n = schema::dtype_name(dtype);
    return n ? py::object(py::str(n)) : py::object(py::none());
  });
  m.def("dtype_number", [](const std::string& name) -> py::object {
    int v;
    return schema::dtype_number(name, &v) ? py::object(py::int_(v)) : py::object(py::none());
  });
}
