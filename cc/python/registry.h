// Each binding file registers itself with TFFORGE_BINDINGS(name) { ... }, so adding a capability
// adds a file here and touches nothing else; module.cc runs the binders in name order.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <utility>
#include <vector>

namespace tfforge::py {

using Binder = void (*)(pybind11::module_&);
std::vector<std::pair<std::string, Binder>>& binders();

struct Registration {
  Registration(const char* name, Binder binder) { binders().emplace_back(name, binder); }
};

}  // namespace tfforge::py

#define TFFORGE_BINDINGS(name)                                                              \
  static void tfforge_bind_##name(pybind11::module_& m);                                    \
  static ::tfforge::py::Registration tfforge_registration_##name(#name, tfforge_bind_##name); \
  static void tfforge_bind_##name(pybind11::module_& m)
