#include "io/atomic_file.h"
#include "python/registry.h"

namespace py = pybind11;

TFFORGE_BINDINGS(io) {
  m.def("io_remove_live_temps", &tfforge::io::remove_live_temps,
        "Removes the temporary files of this process's native writers still in flight (signal cleanup).");
  m.def("io_remove_stale_temps", &tfforge::io::remove_stale_temps, py::arg("dir"), py::arg("name_prefix"),
        "Removes '<dir>/.<name_prefix>*.tmp-<pid>-<hex>' files whose process no longer exists.");
}
