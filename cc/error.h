// The one exception type native code throws for bad input. `kind` names the class in
// python/tfforge/errors.py that the binding raises, so C++ and Python share one error vocabulary;
// path / record / node / offset say where the problem is (empty or -1 when not applicable).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace tfforge {

class Error : public std::runtime_error {
 public:
  Error(std::string kind, const std::string& message) : std::runtime_error(message), kind(std::move(kind)) {}
  Error& at_path(std::string p) { path = std::move(p); return *this; }
  Error& at_offset(int64_t o) { offset = o; return *this; }
  Error& at_record(int64_t r) { record = r; return *this; }
  Error& at_node(std::string n) { node = std::move(n); return *this; }

  std::string kind;
  std::string path;
  std::string node;
  int64_t offset = -1;
  int64_t record = -1;
};

}  // namespace tfforge
