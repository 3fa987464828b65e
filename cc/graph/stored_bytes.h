// Bytes that stay in a file until a writer copies them out: a range of a file (a checkpoint's data
// shard, a weights file), read with pread in chunks by whoever writes it, never memory-mapped, so a file
// truncated meanwhile is an error and never a SIGBUS. The reader computes the CRC32C of exactly the bytes
// it copies and hands it to finish(), which checks it against the expected CRC32C (when the range has
// one) and checks the file is still the one that was opened (size, modification and change time in ns,
// as MappedFile does): so the bytes written are the bytes verified, with no window between the check
// and the use. Errors name the file, what the range holds and the byte offset.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace tfforge::graph {

// An open, read-only regular file and its state when opened (after the timestamps settled).
class SourceFile {
 public:
  // error_kind: the tfforge.errors class of every failure reading from it.
  static std::shared_ptr<SourceFile> open(const std::string& path, const std::string& error_kind);
  ~SourceFile();
  SourceFile(const SourceFile&) = delete;
  SourceFile& operator=(const SourceFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& error_kind() const { return kind_; }
  uint64_t size() const { return uint64_t(stat_.st_size); }
  int fd() const { return fd_; }
  // Empty when the file is as it was opened, else what changed.
  std::string change() const;

 private:
  SourceFile() = default;
  std::string path_, kind_;
  int fd_ = -1;
  struct stat stat_ {};
};

class StoredBytes {
 public:
  // The `size` bytes at `offset` of `file`; `what` names them in errors ("tensor 'w'"). Throws when
  // the range does not lie inside the file.
  StoredBytes(std::shared_ptr<const SourceFile> file, uint64_t offset, uint64_t size, std::optional<uint32_t> crc32c,
              std::string what);

  uint64_t size() const { return size_; }
  uint64_t offset() const { return offset_; }
  const SourceFile& file() const { return *file_; }
  const std::string& what() const { return what_; }
  bool same_range(const StoredBytes& o) const {
    return file_ == o.file_ && offset_ == o.offset_ && size_ == o.size_;
  }

  // Copies bytes [at, at + n) of the range to `out` (pread; a file that ends early is an error).
  void read(uint64_t at, uint8_t* out, size_t n) const;
  // After all size() bytes were read, in order, with `crc` their CRC32C: throws when it is not the
  // expected one or when the file changed since it was opened.
  void finish(uint32_t crc) const;
  // Throws when the file changed since it was opened.
  void check() const;
  // read() + finish() of the whole range, appended to `out`.
  void append_to(std::string* out) const;

 private:
  [[noreturn]] void fail(const std::string& message, uint64_t at) const;
  std::shared_ptr<const SourceFile> file_;
  uint64_t offset_, size_;
  std::optional<uint32_t> crc_;
  std::string what_;
};

}  // namespace tfforge::graph
