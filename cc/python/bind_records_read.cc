// Bindings of the TFRecord reading side: the framing reader, the Example decoder into numpy columns,
// verification and counting. Reading and decoding run with the GIL released; only building the numpy
// arrays (and bytes objects) at the end of a batch needs it.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <sys/stat.h>

#include <optional>
#include <utility>

#include "error.h"
#include "python/records_columns.h"
#include "python/records_common.h"
#include "python/registry.h"
#include "record/example_decoder.h"
#include "record/parallel_decode.h"
#include "record/parallel_verify.h"
#include "record/record_reader.h"
#include "record/thread_pool.h"

namespace py = pybind11;
using namespace tfforge::record;
namespace wire = tfforge::wire;
using tfforge::py::hold;
using tfforge::py::key_bytes;
using tfforge::py::key_str;
using tfforge::py::SignalPoll;

namespace {

Compression reader_compression(const std::string& path, const std::string& c) {
  return c == "auto" ? detect_compression(path) : parse_compression(c);
}

// (records, bytes) of a large uncompressed file whose records all check out, verified on `workers`
// threads; nullopt for anything else (small, compressed, recently changed, or any error), which the
// serial reader then verifies and reports.
std::optional<std::pair<int64_t, int64_t>> verify_large_file_in_parallel(const std::string& path, Compression c,
                                                                         bool examples, uint64_t max_record,
                                                                         int workers) {
  struct stat st;
  if (workers < 2 || c != Compression::kNone || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      uint64_t(st.st_size) < tfforge::graph::MappedFile::kMapThreshold || !tfforge::graph::settled_for_mapping(st))
    return std::nullopt;
  try {
    py::gil_scoped_release release;
    auto file = tfforge::graph::MappedFile::open(path);
    SignalPoll poll(1);
    ParallelVerify options{workers, examples, max_record, [&] { return poll.check(); }};
    if (auto records = verify_mapped(*file, options))
      return std::make_pair(*records, int64_t(file->span().size));
  } catch (const Interrupted&) {
    throw py::error_already_set();
  } catch (const tfforge::Error&) {
  }
  return std::nullopt;
}

struct PyDecoder {
  std::unique_ptr<ExampleDecoder> dec;
  std::vector<bool> as_str;
  RecordChunk chunk;  // records read for decode_parallel, reused between calls
  DecoderPool spare;  // decode_parallel's slice decoders, reused between calls
  std::mutex m;
  std::mutex& mutex() { return m; }
};

std::unique_ptr<PyDecoder> make_decoder(const py::list& spec, bool strict) {
  auto out = std::make_unique<PyDecoder>();
  out->dec = std::make_unique<ExampleDecoder>(tfforge::py::parse_spec(spec, &out->as_str), strict);
  return out;
}

py::list skipped_list(const RecordReader& r) {
  py::list out;
  for (const Skipped& s : r.skipped())
    out.append(py::dict(py::arg("path") = r.path(), py::arg("record") = s.record, py::arg("offset") = s.offset,
                        py::arg("bytes") = s.bytes, py::arg("reason") = s.reason));
  return out;
}

const char* kind_str(Kind k) { return kind_name(k); }

}  // namespace

TFFORGE_BINDINGS(records_read) {
  py::class_<PyDecoder>(m, "ExampleDecoder", "Decodes Examples into columns for a list of wanted features.")
      .def(py::init(&make_decoder), py::arg("spec"), py::arg("strict") = true)
      .def_property_readonly("rows", [](const PyDecoder& d) { return d.dec->rows(); })
      .def(
          "finish",
          [](PyDecoder& d) {
            // name -> (values, row_splits[, step_splits]); bytes values as an object array of bytes
            // (or str). Feature lists add step_splits (row_splits then index steps).
            auto lock = hold(d);
            py::dict out = tfforge::py::take_columns(*d.dec, d.as_str);
            d.dec->reset();
            return out;
          },
          "Returns the decoded columns {name: (values, row_splits)} ({(name, True): (values, row_splits, "
          "step_splits)} for feature lists) and starts a new batch.");

  py::class_<RecordReader>(m, "RecordReader", "Reads the records of one TFRecord file, checking framing and CRCs.")
      .def(py::init([](const std::string& path, const std::string& compression, bool verify, bool skip_corrupt,
                       uint64_t max_record) {
             ReaderOptions o;
             o.verify = verify;
             o.skip_corrupt = skip_corrupt;
             o.max_record = max_record;
             return std::make_unique<RecordReader>(path, reader_compression(path, compression), o);
           }),
           py::arg("path"), py::arg("compression") = "auto", py::arg("verify") = true, py::arg("skip_corrupt") = false,
           py::arg("max_record") = uint64_t(1) << 31)
      .def(
          "read",
          [](RecordReader& r, int64_t n) {
            auto lock = hold(r);
            py::list out;
            wire::Span s;
            for (int64_t i = 0; i < n; ++i) {
              bool got;
              {
                py::gil_scoped_release release;
                got = r.next(&s);
              }
              if (!got) break;
              out.append(py::bytes(reinterpret_cast<const char*>(s.data), s.size));
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            }
            return out;
          },
          py::arg("n"), "Up to n raw records (bytes).")
      .def(
          "decode",
          [](RecordReader& r, PyDecoder& d, int64_t n) {
            auto lock = hold(r);
            auto dlock = hold(d);
            int64_t done = 0;
            try {
              py::gil_scoped_release release;
              SignalPoll poll;
              wire::Span s;
              while (done < n && r.next(&s)) {
                if (poll.check()) throw Interrupted();
                try {
                  d.dec->decode(s, RecordContext{&r.path(), r.index(), r.offset()});
                  ++done;
                } catch (const tfforge::Error& e) {
                  // Recovery mode skips malformed Examples too (and reports them); spec mismatches always raise.
                  if (e.kind != "CorruptRecordError" || !r.options().skip_corrupt) throw;
                  r.note_skipped_record(e.what());
                }
              }
            } catch (const Interrupted&) {
              throw py::error_already_set();
            }
            return done;
          },
          py::arg("decoder"), py::arg("n"), "Decodes up to n records into the decoder; returns how many.")
      .def(
          "decode_parallel",
          [](RecordReader& r, PyDecoder& d, int64_t n, int workers) {
            // Reads up to n records (framing and CRCs on this thread), then decodes them on `workers`
            // threads; rows land in record order, and errors are those decode() would raise, in order.
            auto lock = hold(r);
            auto dlock = hold(d);
            int64_t done = 0;
            bool ended = false;
            try {
              py::gil_scoped_release release;
              SignalPoll poll;
              RecordChunk& chunk = d.chunk;
              chunk.clear();
              std::exception_ptr read_error;
              try {
                wire::Span s;
                while (int64_t(chunk.size()) < n && r.next(&s)) {
                  if (poll.check()) throw Interrupted();
                  chunk.add(s, r.index(), r.offset());
                }
              } catch (const tfforge::Error&) {
                read_error = std::current_exception();  // raised after the records before it were decoded
              }
              std::vector<SkippedExample> skipped;
              try {
                done = decode_parallel(*d.dec, chunk, r.path(), workers, r.options().skip_corrupt, &skipped, &d.spare);
              } catch (...) {
                for (auto& k : skipped) r.note_skipped_record(k.record, k.offset, k.reason);
                throw;
              }
              for (auto& k : skipped) r.note_skipped_record(k.record, k.offset, k.reason);
              if (read_error) std::rethrow_exception(read_error);
              ended = int64_t(chunk.size()) < n;
              chunk.clear();
            } catch (const Interrupted&) {
              throw py::error_already_set();
            }
            return py::make_tuple(done, ended);
          },
          py::arg("decoder"), py::arg("n"), py::arg("workers"),
          "Reads up to n records and decodes them on `workers` threads. Returns (rows decoded, whether "
          "the file ended); with skip_corrupt, rows can be fewer than the records read.")
      .def(
          "scan",
          [](RecordReader& r, int64_t n) {
            // For spec inference: per record, [(name, kind or None, value count)].
            auto lock = hold(r);
            py::list out;
            wire::Span s;
            for (int64_t i = 0; i < n; ++i) {
              std::vector<FeatureSeen> seen;
              {
                py::gil_scoped_release release;
                bool got = false;
                while (!got && r.next(&s)) {
                  try {
                    seen = scan_example(s, RecordContext{&r.path(), r.index(), r.offset()});
                    got = true;
                  } catch (const tfforge::Error& e) {
                    if (!r.options().skip_corrupt) throw;
                    r.note_skipped_record(e.what());
                  }
                }
                if (!got) break;
              }
              py::list rec;
              for (auto& f : seen)
                rec.append(py::make_tuple(key_str(f.name), f.kind_known ? py::object(py::str(kind_str(f.kind))) : py::none(), f.count));
              out.append(rec);
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            }
            return out;
          },
          py::arg("n"))
      .def(
          "parse",
          [](RecordReader& r, int64_t n) {
            // For printing: per record {name: (kind or None, [values])}.
            auto lock = hold(r);
            py::list out;
            wire::Span s;
            for (int64_t i = 0; i < n; ++i) {
              std::vector<FeatureValues> vals;
              {
                py::gil_scoped_release release;
                if (!r.next(&s)) break;
                vals = parse_example(s, RecordContext{&r.path(), r.index(), r.offset()});
              }
              py::dict rec;
              for (auto& f : vals) {
                py::list v;
                if (f.kind == Kind::kInt64) for (auto x : f.i64) v.append(x);
                if (f.kind == Kind::kFloat) for (auto x : f.f32) v.append(x);
                if (f.kind == Kind::kBytes) for (auto& x : f.bytes) v.append(py::bytes(x));
                rec[key_str(f.name)] = py::make_tuple(f.kind_known ? py::object(py::str(kind_str(f.kind))) : py::none(), v);
              }
              out.append(rec);
              if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            }
            return out;
          },
          py::arg("n"))
      .def_property_readonly("skipped", [](RecordReader& r) {
        auto lock = hold(r);
        return skipped_list(r);
      })
      .def_property_readonly("index", &RecordReader::index)
      .def_property_readonly("offset", &RecordReader::offset)
      .def_property_readonly("position", &RecordReader::position)
      .def_property_readonly("path", &RecordReader::path);

  py::class_<RandomRecordReader>(m, "RandomRecordReader",
                                 "Reads the record at a byte offset of a TFRecord file (of its uncompressed stream).")
      .def(py::init([](const std::string& path, const std::string& compression, bool verify, uint64_t max_record) {
             ReaderOptions o;
             o.verify = verify;
             o.max_record = max_record;
             return std::make_unique<RandomRecordReader>(path, reader_compression(path, compression), o);
           }),
           py::arg("path"), py::arg("compression") = "auto", py::arg("verify") = true,
           py::arg("max_record") = uint64_t(1) << 31)
      .def(
          "read",
          [](RandomRecordReader& r, uint64_t offset) -> py::object {
            auto lock = hold(r);
            wire::Span s;
            uint64_t next = 0;
            bool got;
            {
              py::gil_scoped_release release;
              got = r.read(offset, &s, &next);
            }
            if (!got) return py::none();
            return py::make_tuple(py::bytes(reinterpret_cast<const char*>(s.data), s.size), next);
          },
          py::arg("offset"), "(record, next offset), or None when the data ends exactly at offset.")
      .def("close", [](RandomRecordReader& r) {
        auto lock = hold(r);
        r.close();
      })
      .def_property_readonly("closed", &RandomRecordReader::closed)
      .def_property_readonly("path", &RandomRecordReader::path);

  m.def(
      "verify_file",
      [](const std::string& path, const std::string& compression, bool examples, uint64_t max_record,
         int workers) -> py::dict {
        // Every record's framing and CRC (and, with examples=True, that it parses as an Example). Without
        // examples the data streams through a small buffer: memory does not grow with record sizes.
        const Compression c = reader_compression(path, compression);
        if (auto clean = verify_large_file_in_parallel(path, c, examples, max_record, workers))
          return py::dict(py::arg("path") = path, py::arg("records") = clean->first, py::arg("bytes") = clean->second,
                          py::arg("stream_bytes") = clean->second, py::arg("errors") = py::list());
        ReaderOptions o;
        o.skip_corrupt = true;
        o.max_record = max_record;
        RecordReader r(path, c, o);
        int64_t records = 0;
        try {
          py::gil_scoped_release release;
          SignalPoll poll;
          wire::Span s;
          while (examples ? r.next(&s) : r.skip()) {
            ++records;
            if (poll.check()) throw Interrupted();
            if (examples) {
              try {
                scan_example(s, RecordContext{&r.path(), r.index(), r.offset()}, /*strict=*/true);
              } catch (const tfforge::Error& e) {
                r.note_skipped_record(e.what());
              }
            }
          }
        } catch (const Interrupted&) {
          throw py::error_already_set();
        }
        struct stat st;
        int64_t size = ::stat(path.c_str(), &st) == 0 ? int64_t(st.st_size) : -1;
        return py::dict(py::arg("path") = path, py::arg("records") = records, py::arg("bytes") = size,
                        py::arg("stream_bytes") = r.position(), py::arg("errors") = skipped_list(r));
      },
      py::arg("path"), py::arg("compression") = "auto", py::arg("examples") = false,
      py::arg("max_record") = uint64_t(1) << 31, py::arg("workers") = 1);
  m.def(
      "count_records",
      [](const std::string& path, const std::string& compression) {
        ReaderOptions o;
        o.verify = false;
        RecordReader r(path, reader_compression(path, compression), o);
        int64_t n = 0;
        try {
          py::gil_scoped_release release;
          SignalPoll poll;
          while (r.skip()) {
            ++n;
            if (poll.check()) throw Interrupted();
          }
        } catch (const Interrupted&) {
          throw py::error_already_set();
        }
        return n;
      },
      py::arg("path"), py::arg("compression") = "auto");
  m.def("detect_compression", [](const std::string& path) { return std::string(compression_name(detect_compression(path))); });
}
