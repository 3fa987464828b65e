// The protobuf schema of GraphDef, MetaGraphDef, SavedModel and Event, compiled in as tables
// (generated from TensorFlow's descriptors by gen_schema.py), for the text format and for decoding
// small messages (signatures, meta info) without libprotobuf.
#pragma once

#include <cstdint>
#include <string>

namespace tfforge::graph::schema {

// protobuf's FieldDescriptor.TYPE_* numbers.
enum Type : int {
  kDouble = 1, kFloat = 2, kInt64 = 3, kUint64 = 4, kInt32 = 5, kFixed64 = 6, kFixed32 = 7, kBool = 8,
  kString = 9, kGroup = 10, kMessage = 11, kBytes = 12, kUint32 = 13, kEnum = 14, kSfixed32 = 15,
  kSfixed64 = 16, kSint32 = 17, kSint64 = 18,
};

struct EnumValueDef {
  const char* name;
  int number;
};
struct EnumDef {
  const char* name;
  int first, count;
};
struct FieldDef {
  const char* name;
  uint32_t number;
  int type;
  bool repeated, packed;
  bool presence;  // written even when it holds the default (oneof members, proto3 optional)
  int ref;        // message or enum index, -1 otherwise
  int oneof;      // index of the oneof the field belongs to in its message, -1 for none
};
struct MessageDef {
  const char* name;
  int first, count;
  bool map_entry;
};

const MessageDef* message(const std::string& full_name);  // nullptr when unknown
const MessageDef& message_at(int index);
const EnumDef& enum_at(int index);
const FieldDef* begin(const MessageDef& m);
const FieldDef* end(const MessageDef& m);
const FieldDef* field_by_number(const MessageDef& m, uint32_t number);
const FieldDef* field_by_name(const MessageDef& m, const std::string& name);
// Enum value name for a number, nullptr when the enum has no such value.
const char* enum_name(const EnumDef& e, int number);
bool enum_number(const EnumDef& e, const std::string& name, int* number);

const char* dtype_name(int dtype);  // "DT_FLOAT"; nullptr for unknown numbers
bool dtype_number(const std::string& name, int* dtype);

}  // namespace tfforge::graph::schema
