// A GraphDef held as an index over its wire bytes. Parsing copies only the small strings (names,
// ops, inputs, devices); attribute values (tensors included) stay spans into the backing buffer,
// which is usually a memory-mapped file. Passes edit the index; the writer re-encodes only the
// nodes a pass touched and copies every other byte verbatim.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/mapped_file.h"
#include "graph/stored_bytes.h"
#include "wire/wire.h"

namespace tfforge::graph {

using wire::Span;

struct Attr {
  std::string key;
  Span value;  // AttrValue wire bytes; with a tail, only their head
  // Bytes that follow `value` in the AttrValue encoding, borrowed from the caller (a Const's weights,
  // spliced in by replace_with_const): written straight from their buffer, never copied.
  Span tail;
  // A tail that stays in a file until written (tail.data is null, tail.size its length): the writer
  // streams it through its sink (Sink::put_stored), checking its CRC32C on the bytes it writes.
  std::shared_ptr<const StoredBytes> stored;
  uint64_t size() const { return value.size + tail.size; }
};

// Tails compared and hashed by content for memory tails, by file range for stored ones (two stored
// tails are the same when they are the same range of the same open file).
bool same_tail(const Attr& a, const Attr& b);
size_t tail_hash(const Attr& a);

// An attr's whole AttrValue as one span: `a.value` itself, or, for an attr with a tail, a copy of
// head and tail in `*scratch`.
Span attr_bytes(const Attr& a, std::string* scratch);

struct Node {
  Span raw;            // the original NodeDef encoding; written verbatim while !dirty
  bool dirty = false;  // re-encode from the fields below on write
  std::string name, op, device;
  std::vector<std::string> inputs;  // "node", "node:1", "^control"
  std::vector<Attr> attrs;          // in wire order
  std::vector<Span> extra;          // other NodeDef fields (debug info, full type), tag included, verbatim

  const Attr* attr(const std::string& key) const;
  void set_attr(const std::string& key, Span value);  // marks dirty
  bool erase_attr(const std::string& key);            // marks dirty when found
};

struct Function {
  std::string name;  // FunctionDef.signature.name
  Span raw;          // FunctionDef wire bytes
};

struct Library {
  bool present = false;
  std::vector<Function> functions;
  std::vector<Span> gradients;  // GradientDef wire bytes (field 2)
  std::vector<Span> extra;      // other fields, tag included
};

// Where a byte span of the file starts, for error messages.
struct Source {
  std::string path;
  uint64_t base = 0;  // offset of the GraphDef inside the file (a .meta / SavedModel wraps it)
};

class GraphDef {
 public:
  GraphDef() = default;

  // Indexes GraphDef wire bytes. `keep` keeps the bytes alive as long as any copy of the graph.
  static GraphDef parse(Span bytes, std::shared_ptr<const void> keep, Source source = {});

  std::vector<Node> nodes;
  Library library;

  // Encoded size, and the encoding itself into a caller-provided buffer of exactly that size.
  uint64_t encoded_size() const;
  void encode_to(uint8_t* out) const;
  std::string to_string() const;
  // Writes to `path` atomically (temp name in the same directory, then rename). `direct`: O_DIRECT
  // writes (AtomicFileSink); by default when 64 MiB or more of the graph are stored tails.
  void write_file(const std::string& path, std::optional<bool> direct = std::nullopt) const;

  // Bytes created by edits (re-encoded attrs, new tensors) must outlive the graph and its copies.
  Span own(std::string bytes);
  // Keeps a borrowed buffer (an attr tail's owner) alive as long as the graph and its copies.
  void hold(std::shared_ptr<const void> owner) { keep_.push_back(std::move(owner)); }

  // name -> index into nodes; rebuilt on demand after edits that change names or order.
  const std::unordered_map<std::string, size_t>& index() const;
  void invalidate_index() { index_valid_ = false; }
  int64_t find(const std::string& name) const;  // -1 when absent

  const Source& source() const { return source_; }

  // The mapped files whose bytes the graph refers to. check_sources() throws GraphError when one of
  // them changed since it was opened (see mapped_file.h); every reader of spans calls it when done.
  void watch(std::shared_ptr<const MappedFile> file) { files_.push_back(std::move(file)); }
  void check_sources() const {
    for (auto& f : files_) f->check();
  }

  // Python threads may share a graph: readers take `mutex` shared, edits take it exclusively (see
  // cc/python/bind_graph.cc). A copy gets a lock of its own.
  struct Guard {
    mutable std::shared_mutex mutex;
    Guard() = default;
    Guard(const Guard&) {}
    Guard& operator=(const Guard&) { return *this; }
  };
  Guard guard;

 private:
  friend class Encoder;
  // GraphDef fields other than node and library (versions, debug info), tag included, in wire order.
  // Written after nodes and library, the order protobuf serializers use.
  std::vector<Span> top_extra_;
  std::vector<std::shared_ptr<const void>> keep_;
  std::vector<std::shared_ptr<const MappedFile>> files_;
  Source source_;
  mutable std::unordered_map<std::string, size_t> index_;
  mutable bool index_valid_ = false;
};

// One NodeDef's wire bytes <-> Node: the parser GraphDef::parse uses (errors name `src` and the
// offset `base` of raw), and the encoding the writer emits. For NodeDefs outside a GraphDef's node
// list, such as the bodies of library functions (FunctionDef.node_def).
Node parse_node_def(Span raw, uint64_t base, const Source& src);
std::string encode_node_def(const Node& n);

// The node name an input refers to: "^a" -> "a", "a:1" -> "a".
std::string input_node_name(const std::string& input);
inline bool is_control_input(const std::string& input) { return !input.empty() && input[0] == '^'; }

}  // namespace tfforge::graph
