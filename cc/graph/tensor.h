// TensorProto and AttrValue at the wire level: read a tensor's dtype, shape and payload span without
// copying it, and encode the attrs of a Const node from raw array bytes (copied once).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/wire.h"

namespace tfforge::graph {

// TensorProto fields (tensorflow/core/framework/tensor.proto).
enum TensorField : uint32_t {
  kTensorDtype = 1, kTensorShape = 2, kTensorVersion = 3, kTensorContent = 4, kTensorFloatVal = 5,
  kTensorDoubleVal = 6, kTensorIntVal = 7, kTensorStringVal = 8, kTensorScomplexVal = 9,
  kTensorInt64Val = 10, kTensorBoolVal = 11, kTensorDcomplexVal = 12, kTensorHalfVal = 13,
  kTensorResourceVal = 14, kTensorVariantVal = 15, kTensorUint32Val = 16, kTensorUint64Val = 17,
  kTensorFloat8Val = 18,
};

// AttrValue oneof fields (tensorflow/core/framework/attr_value.proto).
enum AttrField : uint32_t {
  kAttrList = 1, kAttrS = 2, kAttrI = 3, kAttrF = 4, kAttrB = 5, kAttrType = 6, kAttrShape = 7,
  kAttrTensor = 8, kAttrPlaceholder = 9, kAttrFunc = 10,
};

struct Shape {
  bool unknown_rank = false;
  std::vector<int64_t> dims;  // -1 for an unknown dimension
  int64_t num_elements() const;  // -1 when not fully known or past int64
};

Shape parse_shape(wire::Span shape_proto);

struct TensorView {
  int dtype = 0;
  Shape shape;
  bool has_content = false;
  wire::Span content;               // tensor_content
  uint32_t value_field = 0;         // the typed *_val field present, 0 when none
  std::vector<wire::Span> values;   // its payloads (packed runs or single values), in order
  wire::WireType value_wire = wire::kVarint;
};

TensorView parse_tensor(wire::Span tensor_proto);

// Payload bytes a tensor holds (tensor_content, or the typed values' encoded size).
uint64_t tensor_payload_bytes(const TensorView& t);

// Which oneof field an AttrValue holds (0 when empty).
uint32_t attr_kind(wire::Span attr_value);

// AttrValue{type: dtype}
std::string encode_type_attr(int dtype);
// AttrValue{tensor: TensorProto{dtype, shape, tensor_content}}
std::string encode_tensor_attr(int dtype, const std::vector<int64_t>& dims, const void* content, size_t n);
// The same encoding without its last `n` bytes (the content), for a caller that writes those from
// their own buffer.
std::string encode_tensor_attr_head(int dtype, const std::vector<int64_t>& dims, size_t n);
// AttrValue{list: {type: [...]}}
std::string encode_type_list_attr(const std::vector<int>& dtypes);
// The types of an AttrValue{list: {type: ...}} (packed or not); empty for any other attr.
std::vector<int> attr_type_list(wire::Span attr_value);
// AttrValue{tensor: TensorProto{dtype: DT_STRING, shape, string_val...}}
std::string encode_string_tensor_attr(const std::vector<int64_t>& dims, const std::vector<std::string>& values);
// AttrValue{shape: ...}
std::string encode_shape_attr(const Shape& s);

}  // namespace tfforge::graph
