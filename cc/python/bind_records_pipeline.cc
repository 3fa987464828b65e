// Binding of the ordered parallel reader (record/batch_pipeline.h): files -> batches of numpy columns in
// file order, decoded on worker threads. Waiting for a batch releases the GIL and lets Ctrl-C through.
#include <pybind11/stl.h>

#include <cstdlib>
#include <optional>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "python/records_columns.h"
#include "python/registry.h"
#include "record/batch_pipeline.h"

namespace py = pybind11;
using namespace tfforge::record;

namespace {

struct PyPipeline {
  std::vector<bool> as_str;
  std::unique_ptr<BatchPipeline> pipe;
};

std::unique_ptr<PyPipeline> make_pipeline(std::vector<std::string> paths, const std::string& compression, bool verify,
                                          const py::list& spec, bool strict, int64_t batch_size, int workers) {
  auto out = std::make_unique<PyPipeline>();
  std::vector<FeatureSpec> fs = tfforge::py::parse_spec(spec, &out->as_str);
  std::optional<Compression> c;
  if (compression != "auto") c = parse_compression(compression);
  ReaderOptions o;
  o.verify = verify;
  out->pipe = std::make_unique<BatchPipeline>(std::move(paths), c, o, std::move(fs), strict, batch_size, workers,
                                             /*borrow_bytes=*/true);
  return out;
}

// Reading hands out a few MB of fresh arrays and bytes objects per batch and frees the previous batch's.
// glibc gives freed memory at the top of its heap back to the kernel as soon as more than 128 KB-2 MB
// are free there, so every batch faults its pages in again (zeroed by the kernel): in measurements that
// cost as much as the decoding. Raising the thresholds keeps up to 64 MB of freed memory for reuse. Done
// once, and not at all where the user tuned malloc through the environment.
bool keep_freed_memory() {
#if defined(__GLIBC__)
  static const bool done = [] {
    for (const char* v : {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"})
      if (std::getenv(v)) return false;
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
  }();
  return done;
#else
  return false;
#endif
}

}  // namespace

TFFORGE_BINDINGS(records_pipeline) {
  m.def("keep_freed_memory", &keep_freed_memory,
        "Lets glibc keep freed memory (up to 64 MB) for reuse instead of returning it at once; True if set.");
  py::class_<PyPipeline>(m, "BatchPipeline",
                         "Reads files as one stream of batches in order, each batch decoded on a worker thread.")
      .def(py::init(&make_pipeline), py::arg("paths"), py::arg("compression"), py::arg("verify"), py::arg("spec"),
           py::arg("strict"), py::arg("batch_size"), py::arg("workers"))
      .def(
          "next",
          [](PyPipeline& p) -> py::object {
            // (columns as ExampleDecoder.finish gives them, rows, [(first row, path, record in file)]), or
            // None at the end; the first bad record (in file order) raises.
            BatchPipeline::Batch b;
            for (;;) {
              bool got;
              {
                py::gil_scoped_release release;
                got = p.pipe->next(&b, 50);
              }
              if (got) break;
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            }
            if (!b.dec) return py::none();
            const int64_t rows = b.dec->rows();
            py::dict cols = tfforge::py::take_columns(*b.dec, p.as_str);
            BatchPipeline::check_unchanged(b.records.get());  // the bytes objects were copied from it
            {
              py::gil_scoped_release release;  // recycling unmaps the batch's pages
              p.pipe->recycle(std::move(b.dec), std::move(b.records));  // the bytes objects are copies by now
            }
            py::list segments;
            for (const auto& s : b.segments)
              segments.append(py::make_tuple(s.row, p.pipe->paths()[s.file], s.record));
            return py::make_tuple(cols, rows, segments);
          });
}
