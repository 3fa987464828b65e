// Decoding protobuf messages of the compiled-in TensorFlow schema into Python dicts.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "graph/schema.h"
#include "wire/wire.h"

namespace tfforge::py {

pybind11::object decode_message(const graph::schema::MessageDef& m, wire::Span bytes);
// Raises WireFormatError on malformed bytes, ValueError for an unknown message name.
pybind11::object decode_message(const std::string& name, wire::Span bytes);

}  // namespace tfforge::py
