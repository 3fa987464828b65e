#include "graph/containers.h"

#include "error.h"
#include "graph/sink.h"

namespace tfforge::graph {

using wire::Reader;
using wire::WireType;

namespace {

enum : uint32_t { kMetaInfoDef = 1, kMetaGraphDef = 2 };  // MetaGraphDef fields
enum : uint32_t { kMetaInfoTags = 4 };                     // MetaInfoDef.tags
enum : uint32_t { kSavedModelMetaGraphs = 2 };             // SavedModel.meta_graphs

[[noreturn]] void fail(const Source& src, uint64_t offset, const std::string& msg) {
  throw Error("WireFormatError", msg).at_path(src.path).at_offset(int64_t(offset));
}

uint64_t offset_of(Span inner, Span outer, const Source& src) { return src.base + uint64_t(inner.data - outer.data); }

// Calls fn(field, type, reader, field_start) for each field of a message; parse errors name `what`.
template <typename Fn>
void for_each_field(Span msg, uint64_t base, const Source& src, const char* what, Fn fn) {
  Reader r(msg, base);
  uint32_t f;
  WireType t;
  try {
    for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) fn(f, t, r, start);
  } catch (const wire::ParseError& e) {
    fail(src, e.offset, std::string("malformed ") + what + ": " + e.what());
  }
}

}  // namespace

MetaGraphView view_meta_graph(Span meta, const Source& src) {
  MetaGraphView v;
  v.meta = meta;
  for_each_field(meta, src.base, src, "MetaGraphDef", [&](uint32_t f, WireType t, Reader& r, const uint8_t*) {
    if ((f == kMetaInfoDef || f == kMetaGraphDef) && t != wire::kLengthDelimited)
      fail(src, r.offset(), "MetaGraphDef field " + std::to_string(f) + " is not length-delimited");
    if (f == kMetaGraphDef) {
      v.graph_def = r.bytes();
    } else if (f == kMetaInfoDef) {
      Span info = r.bytes();
      Reader ir(info, r.offset() - info.size);
      uint32_t g;
      WireType u;
      while (ir.next(&g, &u)) {
        if (g == kMetaInfoTags && u == wire::kLengthDelimited) v.tags.push_back(ir.bytes().str());
        else ir.skip(u);
      }
    } else {
      r.skip(t);
    }
  });
  return v;
}

std::string MetaGraphView::header() const {
  std::string out;
  Reader r(meta);
  uint32_t f;
  WireType t;
  for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
    r.skip(t);
    if (f != kMetaGraphDef) out.append(reinterpret_cast<const char*>(start), size_t(r.cursor() - start));
  }
  return out;
}

std::vector<MetaGraphView> view_saved_model(Span file, const Source& src) {
  std::vector<MetaGraphView> out;
  for_each_field(file, src.base, src, "SavedModel", [&](uint32_t f, WireType t, Reader& r, const uint8_t*) {
    if (f != kSavedModelMetaGraphs) {
      r.skip(t);
      return;
    }
    if (t != wire::kLengthDelimited) fail(src, r.offset(), "SavedModel.meta_graphs is not length-delimited");
    Span meta = r.bytes();
    Source sub = src;
    sub.base = offset_of(meta, file, src);
    out.push_back(view_meta_graph(meta, sub));
  });
  if (out.empty()) fail(src, 0, "SavedModel holds no MetaGraphDef");
  return out;
}

std::string replace_graph_def(Span meta, const GraphDef& graph) {
  std::string out;
  StringSink sink(&out);
  Reader r(meta);
  uint32_t f;
  WireType t;
  bool written = false;
  auto write_graph = [&] {
    std::string body = graph.to_string();
    sink.bytes_field(kMetaGraphDef, body.data(), body.size());
    written = true;
  };
  for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
    r.skip(t);
    if (f == kMetaGraphDef) {
      if (!written) write_graph();
    } else {
      if (f > kMetaGraphDef && !written) write_graph();
      sink.put(start, size_t(r.cursor() - start));
    }
  }
  if (!written) write_graph();
  return out;
}

}  // namespace tfforge::graph
