#include "graph/schema.h"

#include <cstring>

namespace tfforge::graph::schema {

namespace {
#include "graph/schema_generated.inc"

constexpr int kMessageCount = int(sizeof(kMessages) / sizeof(kMessages[0]));

const EnumDef& data_type_enum() {
  static const EnumDef* e = [] {
    for (auto& d : kEnums)
      if (std::strcmp(d.name, "tensorflow.DataType") == 0) return &d;
    return &kEnums[0];
  }();
  return *e;
}
}  // namespace

const MessageDef* message(const std::string& full_name) {
  for (int i = 0; i < kMessageCount; ++i)
    if (full_name == kMessages[i].name) return &kMessages[i];
  return nullptr;
}

const MessageDef& message_at(int index) { return kMessages[index]; }
const EnumDef& enum_at(int index) { return kEnums[index]; }
const FieldDef* begin(const MessageDef& m) { return kFields + m.first; }
const FieldDef* end(const MessageDef& m) { return kFields + m.first + m.count; }

const FieldDef* field_by_number(const MessageDef& m, uint32_t number) {
  for (const FieldDef* f = begin(m); f != end(m); ++f)
    if (f->number == number) return f;
  return nullptr;
}

const FieldDef* field_by_name(const MessageDef& m, const std::string& name) {
  for (const FieldDef* f = begin(m); f != end(m); ++f)
    if (name == f->name) return f;
  return nullptr;
}

const char* enum_name(const EnumDef& e, int number) {
  for (int i = e.first; i < e.first + e.count; ++i)
    if (kEnumValues[i].number == number) return kEnumValues[i].name;
  return nullptr;
}

bool enum_number(const EnumDef& e, const std::string& name, int* number) {
  for (int i = e.first; i < e.first + e.count; ++i)
    if (name == kEnumValues[i].name) {
      *number = kEnumValues[i].number;
      return true;
    }
  return false;
}

const char* dtype_name(int dtype) { return enum_name(data_type_enum(), dtype); }
bool dtype_number(const std::string& name, int* dtype) { return enum_number(data_type_enum(), name, dtype); }

}  // namespace tfforge::graph::schema
