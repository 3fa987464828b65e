#include "python/buffer.h"
#include "python/registry.h"
#include "record/crc32c.h"

namespace py = pybind11;
using tfforge::py::byte_view;

namespace {

template <uint32_t (*Extend)(uint32_t, const void*, size_t)>
uint32_t crc_of(const py::object& data, uint32_t value) {
  auto view = byte_view(data);
  py::gil_scoped_release release;
  return Extend(value, view.data(), view.size());
}

}  // namespace

TFFORGE_BINDINGS(crc32c) {
  namespace crc = tfforge::crc32c;
  m.def("crc32c", &crc_of<crc::extend>, py::arg("data"), py::arg("value") = 0,
        "CRC32C of a bytes-like object; `value` continues a previous CRC (crc32c(b, crc32c(a)) == crc32c(a + b)).");
  m.def("masked_crc32c", [](const py::object& data) { return crc::mask(crc_of<crc::extend>(data, 0)); },
        py::arg("data"), "The masked CRC32C that TFRecord framing stores.");
  m.def("mask_crc32c", &crc::mask, py::arg("crc"));
  m.def("unmask_crc32c", &crc::unmask, py::arg("masked"));
  m.def("crc32c_path", &crc::active_path, "The CRC32C implementation in use: 'sse4.2' or 'portable'.");
  m.def("crc32c_hardware_available", &crc::hardware_available);
  // Both implementations, callable directly so tests can check each against the other.
  m.def("_crc32c_portable", &crc_of<crc::extend_portable>, py::arg("data"), py::arg("value") = 0);
  m.def("_crc32c_hardware", &crc_of<crc::extend_hardware>, py::arg("data"), py::arg("value") = 0);
}
