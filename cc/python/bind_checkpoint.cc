// Bindings of the checkpoint engine (cc/checkpoint): a lazy reader of TensorFlow V2 checkpoints, a
// writer, and the object-graph rewrite that keeps TF2 restores working after renames and drops.
// Tensor names travel as str decoded with surrogateescape, so names that are not UTF-8 round-trip.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "checkpoint/bundle_reader.h"
#include "checkpoint/bundle_writer.h"
#include "checkpoint/object_graph.h"
#include "python/buffer.h"
#include "python/registry.h"

namespace py = pybind11;
namespace ckpt = tfforge::checkpoint;
using tfforge::wire::Span;

namespace {

py::str to_str(const std::string& s) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "surrogateescape"));
}

std::string from_str(const py::handle& obj) {
  if (PyBytes_Check(obj.ptr())) return obj.cast<std::string>();
  py::object b = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(obj.ptr(), "utf-8", "surrogateescape"));
  if (!b) throw py::error_already_set();
  return b.cast<std::string>();
}

py::dict entry_dict(const ckpt::BundleReader& r, const std::string& name) {
  const ckpt::Entry& e = r.entry(name);
  py::dict d;
  d["dtype"] = e.dtype;
  d["shape"] = py::tuple(py::cast(e.shape));
  d["shard"] = e.shard_id;
  d["offset"] = e.offset;
  d["size"] = e.size;
  d["crc32c"] = e.crc32c;
  d["nbytes"] = r.nbytes(name);
  py::list slices;
  for (const auto& s : e.slices) {
    py::list extents;
    for (const auto& x : s) extents.append(py::make_tuple(x.start, x.length));
    slices.append(extents);
  }
  d["slices"] = slices;
  return d;
}

}  // namespace

TFFORGE_BINDINGS(checkpoint) {
  py::class_<ckpt::BundleReader, std::shared_ptr<ckpt::BundleReader>>(
      m, "CheckpointReader", "A TensorFlow V2 checkpoint (PREFIX.index + PREFIX.data-*), read lazily.")
      .def(py::init([](const std::string& prefix) {
             py::gil_scoped_release release;
             return ckpt::BundleReader::open(prefix);
           }), py::arg("prefix"))
      .def_property_readonly("prefix", &ckpt::BundleReader::prefix)
      .def("header", [](const ckpt::BundleReader& r) {
        const ckpt::Header& h = r.header();
        py::dict d;
        d["num_shards"] = h.num_shards;
        d["endianness"] = h.endianness;
        d["producer"] = h.producer;
        d["min_consumer"] = h.min_consumer;
        d["bad_consumers"] = h.bad_consumers;
        return d;
      })
      .def("names", [](const ckpt::BundleReader& r) {
        py::list out;
        for (const auto& n : r.names()) out.append(to_str(n));
        return out;
      })
      .def("__contains__", [](const ckpt::BundleReader& r, const py::handle& name) { return r.contains(from_str(name)); })
      .def("entry", [](const ckpt::BundleReader& r, const py::handle& name) { return entry_dict(r, from_str(name)); })
      .def("read_bytes", [](ckpt::BundleReader& r, const py::handle& name) {
        std::string key = from_str(name);
        {
          py::gil_scoped_release release;
          r.check_stored(key);  // before allocating what the index claims
        }
        py::array_t<uint8_t> out(py::ssize_t(r.nbytes(key)));
        uint8_t* p = out.mutable_data();
        size_t n = size_t(out.size());
        {
          py::gil_scoped_release release;
          r.read_into(key, p, n);
        }
        return out;
      }, "A fixed-size tensor's value as little-endian bytes (a copy, CRC-checked, slices reassembled).")
      .def("read_elements", [](ckpt::BundleReader& r, const py::handle& name) {
        std::vector<std::string> elems;
        {
          std::string key = from_str(name);
          py::gil_scoped_release release;
          elems = r.read_elements(key);
        }
        py::list out;
        for (const auto& e : elems) out.append(py::bytes(e));
        return out;
      }, "A string or variant tensor's elements as bytes, in row-major order.")
      .def("stored_view", [](const std::shared_ptr<ckpt::BundleReader>& r, const py::handle& name) -> py::object {
        Span s;
        {
          std::string key = from_str(name);
          py::gil_scoped_release release;
          s = r->stored_bytes(key);
        }
        if (!s.data && s.size == 0 && r->nbytes(from_str(name)) != 0) return py::none();
        // A view of the mapped data shard; the array keeps the reader (and so the mapping) alive.
        return py::array_t<uint8_t>({py::ssize_t(s.size)}, {py::ssize_t(1)}, s.data ? s.data : reinterpret_cast<const uint8_t*>(""),
                                    py::cast(r));
      }, "The mapped bytes of an unsliced fixed-size tensor without a copy (CRC-checked), or None.")
      .def("stored_range", [](ckpt::BundleReader& r, const py::handle& name) -> py::object {
        std::string key = from_str(name);
        std::shared_ptr<const tfforge::graph::StoredBytes> s;
        {
          py::gil_scoped_release release;
          s = r.stored_range(key);
        }
        if (!s) return py::none();
        return py::cast(std::const_pointer_cast<tfforge::graph::StoredBytes>(s));
      }, "An unsliced fixed-size tensor's bytes as a StoredBytes range of its data shard (read when written), or None.");

  py::class_<ckpt::BundleWriter>(m, "CheckpointWriter",
                                 "Writes PREFIX.index + PREFIX.data-00000-of-00001 under temporary names; finish() renames them.")
      .def(py::init<std::string>(), py::arg("prefix"))
      .def("add", [](ckpt::BundleWriter& w, const py::handle& name, int dtype, const std::vector<int64_t>& shape,
                     const py::object& data) {
        auto view = tfforge::py::byte_view(data);
        std::string key = from_str(name);
        py::gil_scoped_release release;
        w.add(key, dtype, shape, Span{view.data(), view.size()});
      }, py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("data"))
      .def("add_elements", [](ckpt::BundleWriter& w, const py::handle& name, int dtype, const std::vector<int64_t>& shape,
                              const py::list& elements) {
        std::vector<tfforge::py::ByteView> views;
        std::vector<Span> spans;
        views.reserve(elements.size());
        for (const auto& e : elements) {
          views.push_back(tfforge::py::byte_view(py::reinterpret_borrow<py::object>(e)));
          spans.push_back(Span{views.back().data(), views.back().size()});
        }
        std::string key = from_str(name);
        py::gil_scoped_release release;
        w.add_elements(key, dtype, shape, spans);
      }, py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("elements"))
      .def("finish", [](ckpt::BundleWriter& w) {
        py::gil_scoped_release release;
        w.finish();
      });

  m.def("object_graph_attributes", [](const py::object& data) {
    auto view = tfforge::py::byte_view(data);
    py::list out;
    for (const auto& a : ckpt::object_graph_attributes(Span{view.data(), view.size()}))
      out.append(py::make_tuple(a.node, to_str(a.name), to_str(a.full_name), to_str(a.checkpoint_key)));
    return out;
  }, py::arg("graph"), "(node, name, full_name, checkpoint_key) of each attribute of a serialized TrackableObjectGraph.");
  m.def("rewrite_object_graph", [](const py::object& data, const py::dict& changes) {
    auto view = tfforge::py::byte_view(data);
    std::map<std::string, std::optional<std::pair<std::string, std::string>>> c;
    for (const auto& [k, v] : changes) {
      if (v.is_none()) c[from_str(k)] = std::nullopt;
      else {
        auto t = v.cast<py::tuple>();
        c[from_str(k)] = std::make_pair(from_str(t[0]), from_str(t[1]));
      }
    }
    return py::bytes(ckpt::rewrite_object_graph(Span{view.data(), view.size()}, c));
  }, py::arg("graph"), py::arg("changes"),
     "Renames ({checkpoint_key: (new_key, new_full_name)}) or drops ({checkpoint_key: None}) object-graph attributes.");
}
