#include "graph/tensor.h"

#include "graph/sink.h"

namespace tfforge::graph {

using wire::Reader;
using wire::Span;
using wire::WireType;

int64_t Shape::num_elements() const {
  if (unknown_rank) return -1;
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

Shape parse_shape(Span s) {
  Shape shape;
  Reader r(s);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == 2 && t == wire::kLengthDelimited) {  // dim
      Reader dr(r.bytes());
      int64_t size = 0;
      while (dr.next(&f, &t)) {
        if (f == 1 && t == wire::kVarint) size = int64_t(dr.varint());
        else dr.skip(t);
      }
      shape.dims.push_back(size);
    } else if (f == 3 && t == wire::kVarint) {
      shape.unknown_rank = r.varint() != 0;
    } else {
      r.skip(t);
    }
  }
  return shape;
}

TensorView parse_tensor(Span s) {
  TensorView t;
  Reader r(s);
  uint32_t f;
  WireType w;
  while (r.next(&f, &w)) {
    const uint8_t* start = r.cursor();
    if (f == kTensorDtype && w == wire::kVarint) {
      t.dtype = int(r.varint());
    } else if (f == kTensorShape && w == wire::kLengthDelimited) {
      t.shape = parse_shape(r.bytes());
    } else if (f == kTensorContent && w == wire::kLengthDelimited) {
      t.has_content = true;
      t.content = r.bytes();
    } else if ((f >= kTensorFloatVal && f <= kTensorHalfVal && f != kTensorContent) || f == kTensorUint32Val ||
               f == kTensorUint64Val || f == kTensorFloat8Val) {
      t.value_field = f;
      t.value_wire = w;
      if (w == wire::kLengthDelimited) {
        t.values.push_back(r.bytes());
      } else {
        r.skip(w);
        t.values.push_back(Span{start, size_t(r.cursor() - start)});
      }
    } else {
      r.skip(w);
    }
  }
  return t;
}

uint64_t tensor_payload_bytes(const TensorView& t) {
  if (t.has_content) return t.content.size;
  uint64_t n = 0;
  for (auto& v : t.values) n += v.size;
  return n;
}

uint32_t attr_kind(Span s) {
  Reader r(s);
  uint32_t f = 0, last = 0;
  WireType t;
  while (r.next(&f, &t)) {
    r.skip(t);
    last = f;
  }
  return last;
}

std::string encode_type_attr(int dtype) {
  std::string out;
  StringSink sink(&out);
  sink.tag(kAttrType, wire::kVarint);
  sink.varint(uint64_t(dtype));
  return out;
}

namespace {

std::string shape_body(const std::vector<int64_t>& dims, bool unknown_rank = false) {
  std::string out;
  StringSink sink(&out);
  for (int64_t d : dims) {
    std::string dim;
    StringSink ds(&dim);
    if (d != 0) {
      ds.tag(1, wire::kVarint);
      ds.varint(uint64_t(d));
    }
    sink.bytes_field(2, dim.data(), dim.size());
  }
  if (unknown_rank) {
    sink.tag(3, wire::kVarint);
    sink.varint(1);
  }
  return out;
}

// TensorProto{dtype, tensor_shape} followed by the caller's payload fields, wrapped as AttrValue.tensor.
template <typename Payload>
std::string tensor_attr(int dtype, const std::vector<int64_t>& dims, uint64_t payload_size, Payload write_payload) {
  std::string shape = shape_body(dims);
  uint64_t body = field_size(kTensorShape, shape.size()) + payload_size;
  if (dtype != 0) body += 1 + wire::varint_size(uint64_t(dtype));
  std::string out;
  out.reserve(field_size(kAttrTensor, body));
  StringSink sink(&out);
  sink.header(kAttrTensor, body);
  if (dtype != 0) {
    sink.tag(kTensorDtype, wire::kVarint);
    sink.varint(uint64_t(dtype));
  }
  sink.bytes_field(kTensorShape, shape.data(), shape.size());
  write_payload(sink);
  return out;
}

}  // namespace

std::string encode_tensor_attr(int dtype, const std::vector<int64_t>& dims, const void* content, size_t n) {
  uint64_t payload = n ? field_size(kTensorContent, n) : 0;
  return tensor_attr(dtype, dims, payload, [&](Sink& s) {
    if (n) s.bytes_field(kTensorContent, content, n);
  });
}

std::string encode_tensor_attr_head(int dtype, const std::vector<int64_t>& dims, size_t n) {
  uint64_t payload = n ? field_size(kTensorContent, n) : 0;
  return tensor_attr(dtype, dims, payload, [&](Sink& s) {
    if (n) s.header(kTensorContent, n);
  });
}

std::string encode_type_list_attr(const std::vector<int>& dtypes) {
  std::string packed;
  StringSink ps(&packed);
  for (int t : dtypes) ps.varint(uint64_t(t));
  std::string list;
  StringSink ls(&list);
  if (!dtypes.empty()) ls.bytes_field(kAttrType, packed.data(), packed.size());
  std::string out;
  StringSink sink(&out);
  sink.bytes_field(kAttrList, list.data(), list.size());
  return out;
}

std::vector<int> attr_type_list(Span s) {
  std::vector<int> out;
  Reader r(s);
  uint32_t f;
  WireType w;
  while (r.next(&f, &w)) {
    if (f != kAttrList || w != wire::kLengthDelimited) {
      r.skip(w);
      continue;
    }
    Reader lr(r.bytes());
    while (lr.next(&f, &w)) {
      if (f == kAttrType && w == wire::kLengthDelimited) {
        Reader pr(lr.bytes());
        while (!pr.done()) out.push_back(int(pr.varint()));
      } else if (f == kAttrType && w == wire::kVarint) {
        out.push_back(int(lr.varint()));
      } else {
        lr.skip(w);
      }
    }
  }
  return out;
}

std::string encode_string_tensor_attr(const std::vector<int64_t>& dims, const std::vector<std::string>& values) {
  uint64_t payload = 0;
  for (auto& v : values) payload += field_size(kTensorStringVal, v.size());
  return tensor_attr(7, dims, payload, [&](Sink& s) {
    for (auto& v : values) s.string_field(kTensorStringVal, v);
  });
}

std::string encode_shape_attr(const Shape& s) {
  std::string body = shape_body(s.dims, s.unknown_rank);
  std::string out;
  StringSink sink(&out);
  sink.bytes_field(kAttrShape, body.data(), body.size());
  return out;
}

}  // namespace tfforge::graph
