// Reads a TensorFlow V2 checkpoint (tensor bundle): PREFIX.index, a table from tensor names to
// BundleEntryProto with a BundleHeaderProto under the empty key, and PREFIX.data-SSSSS-of-NNNNN, the
// tensors' bytes. read_into/read_elements copy a tensor's bytes with pread and check the CRC32C of
// the copy (a file truncated meanwhile is an error, never a fault); stored_bytes gives a view of the
// shard's bytes after checking their CRC32C when nothing can change them (a shard under 16 MiB, read
// into memory, or an immutable file), else nothing and the caller copies. Partitioned tensors are reassembled from their slices. Errors are
// tfforge::Error("CheckpointError") naming the file, the tensor and the byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <string>
#include <vector>

#include "checkpoint/bundle_proto.h"
#include "graph/mapped_file.h"
#include "graph/stored_bytes.h"
#include "wire/wire.h"

namespace tfforge::checkpoint {

class BundleReader {
 public:
  static std::shared_ptr<BundleReader> open(const std::string& prefix);
  ~BundleReader();
  BundleReader(const BundleReader&) = delete;
  BundleReader& operator=(const BundleReader&) = delete;

  const std::string& prefix() const { return prefix_; }
  const Header& header() const { return header_; }
  // Tensor names in key order, without the header and the stored slices of partitioned tensors.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const;
  const Entry& entry(const std::string& name) const;  // throws for an unknown name
  // Bytes of the whole tensor: element count * element size, or the stored size for strings.
  uint64_t nbytes(const std::string& name) const;

  // Checks that every stored piece of the tensor lies inside its data shard and returns their total
  // bytes; reads call it before allocating, so an index cannot make them allocate more than the files hold.
  uint64_t check_stored(const std::string& name);
  // A fixed-size tensor's value, little-endian, reassembled from slices: writes exactly
  // num_elements * element_size bytes to `out`.
  void read_into(const std::string& name, uint8_t* out, size_t n);
  // A DT_STRING or DT_VARIANT tensor's elements (variants as serialized VariantTensorDataProto).
  std::vector<std::string> read_elements(const std::string& name);
  // The stored bytes of an unsliced little-endian fixed-size tensor after its CRC32C check, with no
  // copy; empty data when the tensor is sliced, byte-swapped or of variable length, or when its shard
  // is a mapped file another process could truncate or rewrite under a caller that keeps the view.
  wire::Span stored_bytes(const std::string& name);
  // The stored bytes of an unsliced little-endian fixed-size tensor as a range of its data shard, read
  // only when written (graph/stored_bytes.h: pread, CRC32C checked on the bytes read, the shard
  // checked unchanged); null when the tensor is sliced, byte-swapped or of variable length.
  std::shared_ptr<const graph::StoredBytes> stored_range(const std::string& name);

 private:
  BundleReader() = default;
  // Copies the entry's bytes into `out` (exactly e.size bytes) and checks their CRC32C when asked.
  void copy_checked(const std::string& what, const Entry& e, uint8_t* out, bool check_crc);
  std::string shard_path(int32_t shard) const;
  // The entry's bytes in its data shard, bounds- and CRC-checked (`what` names the tensor or slice).
  wire::Span checked_bytes(const std::string& what, const Entry& e, bool check_crc);
  std::shared_ptr<graph::MappedFile> shard(const std::string& what, int32_t id);
  std::vector<std::string> decode_elements(const std::string& what, const Entry& e, uint64_t count);
  void check_crc(const std::string& what, const Entry& e, const uint8_t* data);
  [[noreturn]] void fail_tensor(const std::string& name, const std::string& what, const std::string& path,
                                int64_t offset) const;

  std::string prefix_;
  Header header_;
  std::map<std::string, Entry> entries_;  // including slice entries
  std::vector<std::string> names_;
  std::mutex mu_;  // guards shards_
  std::map<int32_t, std::shared_ptr<graph::MappedFile>> shards_;
  std::map<int32_t, int> fds_;  // guarded by mu_
  std::map<int32_t, std::shared_ptr<const graph::SourceFile>> sources_;  // for stored_range, guarded by mu_
};

int64_t num_elements(const std::vector<int64_t>& shape);  // -1 on overflow or a negative dimension

}  // namespace tfforge::checkpoint
