// Writes a TensorFlow V2 checkpoint that TensorFlow reads back: one data shard
// PREFIX.data-00000-of-00001 and PREFIX.index (header, then one BundleEntryProto per tensor, sorted by
// name). Both files go through io::AtomicFile (temporary names in the target directory) and are
// renamed into place by finish(), data first, so a reader never sees an index without its data; a
// writer destroyed before finish() removes its temporary files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checkpoint/bundle_proto.h"
#include "wire/wire.h"

namespace tfforge::io {
class AtomicFile;
}

namespace tfforge::checkpoint {

class BundleWriter {
 public:
  explicit BundleWriter(std::string prefix);
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // A fixed-size tensor from its little-endian bytes (num_elements * element size of them).
  void add(const std::string& name, int dtype, const std::vector<int64_t>& shape, wire::Span data);
  // A DT_STRING or DT_VARIANT tensor from its elements (variants: serialized VariantTensorDataProto).
  void add_elements(const std::string& name, int dtype, const std::vector<int64_t>& shape,
                    const std::vector<wire::Span>& elements);
  void finish();

 private:
  Entry& new_entry(const std::string& name, int dtype, const std::vector<int64_t>& shape);
  void append(const void* p, size_t n);
  void flush();

  std::string prefix_;
  std::mutex mu_;        // one add/finish at a time (callers may release the GIL)
  bool failed_ = false;  // a write failed part-way: the data file no longer matches the entries
  std::unique_ptr<io::AtomicFile> data_;
  std::vector<uint8_t> buf_;  // data bytes not yet written
  std::map<std::string, Entry> entries_;
  int64_t size_ = 0;
  bool finished_ = false;
};

}  // namespace tfforge::checkpoint
