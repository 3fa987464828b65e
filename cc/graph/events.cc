#include "graph/events.h"

#include <cstring>

#include "graph/sink.h"
#include "record/crc32c.h"
#include "record/framing.h"

namespace tfforge::graph {

namespace {

// Event{wall_time = 1 (double), step = 2, file_version = 3, graph_def = 4 (bytes)}
std::string event_head(double wall_time) {
  std::string e;
  StringSink s(&e);
  s.tag(1, wire::kFixed64);
  uint64_t bits;
  std::memcpy(&bits, &wall_time, 8);
  s.put(&bits, 8);
  return e;
}

// Frames one record whose data is head + body, streaming the body (the graph) without a copy of it.
void put_record(Sink& out, const std::string& head, const std::string& body) {
  uint8_t header[record::kHeaderSize];
  record::encode_header(header, head.size() + body.size());
  out.put(header, sizeof header);
  out.put(head.data(), head.size());
  out.put(body.data(), body.size());
  uint32_t crc = crc32c::extend(crc32c::value(head.data(), head.size()), body.data(), body.size());
  uint32_t masked = crc32c::mask(crc);
  out.put(&masked, 4);
}

}  // namespace

void write_graph_events(const GraphDef& g, const std::string& path, double wall_time) {
  AtomicFileSink sink(path);
  std::string version = event_head(wall_time);
  StringSink vs(&version);
  vs.string_field(3, "brain.Event:2");
  put_record(sink, version, {});
  std::string graph = g.to_string();
  std::string head = event_head(wall_time);
  StringSink hs(&head);
  hs.header(4, graph.size());
  put_record(sink, head, graph);
  sink.commit();
}

}  // namespace tfforge::graph
