// Bindings of the TFRecord writing side: column batches, the Example encoder, files being written.
// All heavy work runs with the GIL released; the batch object keeps the Python buffers it borrows alive.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>

#include "error.h"
#include "python/buffer.h"
#include "python/records_common.h"
#include "python/registry.h"
#include "record/batch_writer.h"
#include "record/columns.h"
#include "record/example_encoder.h"
#include "record/file_writer.h"
#include "record/thread_pool.h"

namespace py = pybind11;
using namespace tfforge::record;
using tfforge::py::byte_view;
using tfforge::py::ByteView;
using tfforge::py::key_bytes;
using tfforge::py::SignalPoll;

namespace {

Kind parse_kind(const std::string& s) {
  if (s == "int64") return Kind::kInt64;
  if (s == "float") return Kind::kFloat;
  if (s == "bytes") return Kind::kBytes;
  if (s == "none") return Kind::kNone;  // a column without values, kind unknown
  throw tfforge::Error("SpecError", "unknown feature kind '" + s + "' (expected int64, float or bytes)");
}

// A Batch plus the Python objects whose memory its columns point into.
struct PyBatch {
  Batch batch;
  std::vector<py::object> keep;
  std::vector<std::unique_ptr<ByteView>> views;

  const uint8_t* view(const py::object& obj, size_t itemsize, const char* what, const std::string& col, size_t* count) {
    auto v = std::make_unique<ByteView>(byte_view(obj));
    if (size_t(v->info.itemsize) != itemsize)
      throw tfforge::Error("SpecError", "column '" + col + "': " + what + " must have " + std::to_string(itemsize) +
                                            "-byte items, got " + std::to_string(v->info.itemsize));
    *count = v->size() / itemsize;
    const uint8_t* p = v->data();
    views.push_back(std::move(v));
    return p;
  }

  // Bytes elements from a sequence of bytes / str / buffer objects (str as UTF-8, which CPython caches).
  void add_items(Column& c, const py::object& seq) {
    py::tuple items = py::reinterpret_steal<py::tuple>(PySequence_Tuple(seq.ptr()));
    if (!items) throw py::error_already_set();
    keep.push_back(items);
    c.items.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      PyObject* o = PyTuple_GET_ITEM(items.ptr(), i);
      if (PyBytes_Check(o)) {
        c.items.push_back({reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(o)), size_t(PyBytes_GET_SIZE(o))});
      } else if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        const char* s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) throw py::error_already_set();
        c.items.push_back({reinterpret_cast<const uint8_t*>(s), size_t(n)});
      } else if (PyObject_CheckBuffer(o)) {
        auto v = std::make_unique<ByteView>(byte_view(py::reinterpret_borrow<py::object>(o)));
        c.items.push_back({v->data(), v->size()});
        views.push_back(std::move(v));
      } else {
        throw tfforge::Error("SpecError", "column '" + c.name + "': element " + std::to_string(i) + " is a " +
                                              Py_TYPE(o)->tp_name + ", not bytes or str");
      }
    }
  }
};

// columns: list of (name, kind, values, row_splits or None, width[, step_splits]). Values: a contiguous
// int64 / float32 buffer; for bytes a sequence of bytes-like or str, or a (data, offsets) pair of flat
// buffers. With step_splits the column is a SequenceExample feature list: row_splits index its steps.
std::shared_ptr<PyBatch> make_batch(const py::list& columns, int64_t rows) {
  auto pb = std::make_shared<PyBatch>();
  pb->batch.rows = rows;
  for (const py::handle& h : columns) {
    py::tuple t = py::reinterpret_borrow<py::tuple>(h);
    if (t.size() != 5 && t.size() != 6)
      throw py::value_error("column tuples are (name, kind, values, row_splits, width[, step_splits])");
    Column c;
    c.name = key_bytes(t[0]);
    c.kind = parse_kind(t[1].cast<std::string>());
    py::object values = t[2];
    size_t n = 0;
    if (c.kind == Kind::kInt64) {
      c.i64 = reinterpret_cast<const int64_t*>(pb->view(values, 8, "int64 values", c.name, &n));
      c.num_values = int64_t(n);
    } else if (c.kind == Kind::kFloat) {
      c.f32 = reinterpret_cast<const float*>(pb->view(values, 4, "float values", c.name, &n));
      c.num_values = int64_t(n);
    } else if (py::isinstance<py::tuple>(values) && py::len(values) == 2) {
      py::tuple flat = values;
      size_t nd = 0, no = 0;
      const uint8_t* data = pb->view(flat[0], 1, "bytes data", c.name, &nd);
      const int64_t* off = reinterpret_cast<const int64_t*>(pb->view(flat[1], 8, "bytes offsets", c.name, &no));
      if (no == 0) throw tfforge::Error("SpecError", "column '" + c.name + "': empty offsets");
      c.items.reserve(no - 1);
      for (size_t i = 0; i + 1 < no; ++i) {
        if (off[i] < 0 || off[i + 1] < off[i] || size_t(off[i + 1]) > nd)
          throw tfforge::Error("SpecError", "column '" + c.name + "': bytes offsets out of order or range at " + std::to_string(i));
        c.items.push_back({data + off[i], size_t(off[i + 1] - off[i])});
      }
      c.num_values = int64_t(c.items.size());
    } else {
      pb->add_items(c, values);
      c.num_values = int64_t(c.items.size());
    }
    if (!t[3].is_none()) {
      size_t ns = 0;
      c.row_splits = reinterpret_cast<const int64_t*>(pb->view(t[3], 8, "row_splits", c.name, &ns));
      if (int64_t(ns) != rows + 1)
        throw tfforge::Error("SpecError", "column '" + c.name + "': " + std::to_string(ns) + " row_splits for " +
                                              std::to_string(rows) + " rows");
    } else {
      c.width = t[4].cast<int64_t>();
    }
    if (t.size() == 6 && !t[5].is_none()) {
      size_t ns = 0;
      c.sequence = true;
      c.step_splits = reinterpret_cast<const int64_t*>(pb->view(t[5], 8, "step_splits", c.name, &ns));
      if (ns == 0) throw tfforge::Error("SpecError", "column '" + c.name + "': empty step_splits");
      c.num_steps = int64_t(ns) - 1;
    }
    pb->batch.columns.push_back(std::move(c));
  }
  ExampleEncoder check(pb->batch);  // validates shapes now, with a clear error
  return pb;
}

// Owns encoded bytes and exposes them through the buffer protocol (no copy into a bytes object).
struct EncodedBuffer {
  Encoded enc;
};

}  // namespace

TFFORGE_BINDINGS(records_write) {
  py::class_<PyBatch, std::shared_ptr<PyBatch>>(m, "ExampleBatch",
                                                "A batch of columns ready to encode as tf.train.Example rows.")
      .def(py::init(&make_batch), py::arg("columns"), py::arg("rows"))
      .def_property_readonly("rows", [](const PyBatch& b) { return b.batch.rows; })
      .def(
          "encode",
          [](const PyBatch& b, int64_t begin, int64_t end, bool framed, int workers) {
            auto buf = std::make_unique<EncodedBuffer>();
            {
              py::gil_scoped_release release;
              buf->enc = encode_rows(b.batch, begin, end, framed, workers);
            }
            py::array_t<int64_t> offsets(buf->enc.offsets.size());
            std::copy(buf->enc.offsets.begin(), buf->enc.offsets.end(), offsets.mutable_data());
            return py::make_tuple(py::cast(std::move(buf)), offsets);
          },
          py::arg("begin"), py::arg("end"), py::arg("framed") = true, py::arg("workers") = 0,
          "Encodes rows [begin, end): (buffer, offsets) with record i at buffer[offsets[i]:offsets[i+1]].")
      .def(
          "encode_into",
          [](const PyBatch& b, const py::object& out, int64_t begin, int64_t end, bool framed, int workers) {
            // Encodes into caller-owned writable memory (reused across calls, so no fresh pages).
            Py_buffer view;
            if (PyObject_GetBuffer(out.ptr(), &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0)
              throw py::error_already_set();
            std::unique_ptr<Py_buffer, void (*)(Py_buffer*)> guard(&view, PyBuffer_Release);
            std::vector<int64_t> offsets;
            {
              py::gil_scoped_release release;
              offsets = size_rows(b.batch, begin, end, framed, workers);
              if (offsets.back() > view.len)
                throw tfforge::Error("SpecError", "output buffer of " + std::to_string(view.len) +
                                                      " bytes is too small for " + std::to_string(offsets.back()));
              encode_rows_into(b.batch, begin, end, framed, workers, offsets, static_cast<uint8_t*>(view.buf));
            }
            py::array_t<int64_t> result(offsets.size());
            std::copy(offsets.begin(), offsets.end(), result.mutable_data());
            return result;
          },
          py::arg("out"), py::arg("begin"), py::arg("end"), py::arg("framed") = true, py::arg("workers") = 0,
          "Encodes rows [begin, end) into the writable buffer `out`; returns the record offsets.")
      .def(
          "serialize",
          [](const PyBatch& b, int64_t begin, int64_t end, int workers) {
            Encoded e;
            {
              py::gil_scoped_release release;
              e = encode_rows(b.batch, begin, end, false, workers);
            }
            py::list out(e.offsets.size() - 1);
            for (size_t i = 0; i + 1 < e.offsets.size(); ++i)
              out[i] = py::bytes(reinterpret_cast<const char*>(e.data.get()) + e.offsets[i],
                                 size_t(e.offsets[i + 1] - e.offsets[i]));
            return out;
          },
          py::arg("begin"), py::arg("end"), py::arg("workers") = 1, "Serialized Examples of rows [begin, end) as bytes.");

  py::class_<EncodedBuffer>(m, "EncodedBuffer", py::buffer_protocol())
      .def_buffer([](EncodedBuffer& b) {
        return py::buffer_info(b.enc.data.get(), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {py::ssize_t(b.enc.size)}, {py::ssize_t(1)}, /*readonly=*/true);
      })
      .def("__len__", [](const EncodedBuffer& b) { return b.enc.size; });

  py::class_<FileWriter>(m, "FileWriter", "A TFRecord file written under a temporary name until commit().")
      .def(py::init([](const std::string& path, const std::string& compression, int level, bool atomic) {
             return std::make_unique<FileWriter>(path, parse_compression(compression), level, atomic);
           }),
           py::arg("path"), py::arg("compression") = "", py::arg("level") = -1, py::arg("atomic") = true)
      .def(
          "write_record",
          [](FileWriter& w, const py::object& data) {
            auto v = byte_view(data);
            py::gil_scoped_release release;
            w.write_record(v.data(), v.size());
          },
          py::arg("data"))
      .def("flush", &FileWriter::flush, py::call_guard<py::gil_scoped_release>())
      .def("finish", &FileWriter::finish, py::call_guard<py::gil_scoped_release>())
      .def("commit", &FileWriter::commit, py::arg("final_path") = "", py::call_guard<py::gil_scoped_release>())
      .def("abort", &FileWriter::abort, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("committed", &FileWriter::committed)
      .def_property_readonly("path", &FileWriter::path)
      .def_property_readonly("temp_path", &FileWriter::temp_path)
      .def_property_readonly("open", &FileWriter::open)
      .def_property_readonly("records", &FileWriter::records)
      .def_property_readonly("raw_bytes", &FileWriter::raw_bytes)
      .def_property_readonly("file_bytes", &FileWriter::file_bytes);

  m.def(
      "write_batch",
      [](const PyBatch& b, const std::vector<std::tuple<FileWriter*, int64_t, int64_t>>& targets, int workers) {
        std::vector<WriteTarget> t;
        for (auto& [w, begin, end] : targets) t.push_back({w, begin, end});
        try {
          py::gil_scoped_release release;
          SignalPoll poll(1);  // called once per encoded chunk (a few MB)
          write_batch(b.batch, t, workers, [&poll] { return poll.check(); });
        } catch (const Interrupted&) {
          throw py::error_already_set();
        }
      },
      py::arg("batch"), py::arg("targets"), py::arg("workers") = 0,
      "Encodes the batch's rows into files: targets are (FileWriter, begin_row, end_row); workers 0 = all cores.");
  m.def("hardware_threads", &hardware_threads);
}
