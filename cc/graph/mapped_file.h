// A read-only view of a whole file. Files of kMapThreshold bytes and more are memory-mapped: the
// kernel pages bytes in as passes touch them, so indexing a multi-gigabyte graph reads only the node
// headers, not the tensor payloads. Smaller files are read into memory, a private copy nothing can
// change afterwards (a copy torn by a concurrent writer is refused when read).
//
// Another process may truncate or rewrite a file while it is mapped. A read past the new end of
// the file would raise SIGBUS; a process-wide SIGBUS handler instead maps zero pages over the rest
// of the mapping (so the read completes) and marks the file damaged. Every user of the bytes calls
// check() when it is done (and before it commits an output): it throws a GraphError naming the file
// when the mapping was damaged or the file's size, modification time (ns) or change time (ns) differ
// from when it was opened, so a changed input is an error, never a crash or silently different output.
//
// Timestamps advance in clock ticks, so a write in the same tick as the file's previous change would
// leave both times as they were. open() therefore waits, when the file changed within the last two
// ticks, until the clock has moved past them (a few milliseconds, only for a file that was just
// written) and takes the file's state after that: any later write, even one that restores the
// modification time (touch -r, cp -p), moves the change time, which nobody can set. A file whose
// timestamps keep moving or lie ahead of this machine's clock is read into memory instead of mapped.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "wire/wire.h"

namespace tfforge::graph {

class MappedFile {
 public:
  static constexpr size_t kMapThreshold = size_t(16) << 20;

  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  wire::Span span() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Throws GraphError when the file changed since it was opened (see above).
  void check() const;
  bool changed() const;
  // True when the bytes cannot change under a reader that keeps them: a private copy in memory, or a
  // mapping of a file with the immutable attribute (chattr +i). Zero-copy views handed to callers who
  // keep them past check() (numpy views of checkpoint tensors) are made only of stable bytes.
  bool stable() const { return slot_ < 0 || immutable_; }

 private:
  MappedFile() = default;
  void read_all();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
  int slot_ = -1;  // index in the SIGBUS guard's table, -1 when not mapped
  bool immutable_ = false;
  struct stat stat_ {};
};

// Waits until the file's last change lies at least two timestamp ticks in the past, refreshing `st`
// (see above; open() does it). False when it keeps changing or its times lie ahead of this clock.
bool settle(int fd, struct stat& st);

// Whether open() maps a file in this state at once: its last change lies far enough in the past (and
// not ahead of this clock). Otherwise open() would wait for the file to settle and, should it keep
// changing, read all of it into memory; readers of large files read such a file piece by piece instead.
bool settled_for_mapping(const struct stat& st);

// Same size, modification time and change time (ns): what "unchanged since opened" means for every
// reader that keeps a file open (mapped files, streamed weight ranges).
bool same_file_state(const struct stat& a, const struct stat& b);

// Runs `body`; when it throws and `file` changed meanwhile, throws the change error instead (the
// original error, e.g. a parse error on zero pages, would only confuse). Checks after success too.
template <typename F>
auto guarded_read(const MappedFile& file, F&& body) -> decltype(body()) {
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      file.check();
    } else {
      auto result = body();
      file.check();
      return result;
    }
  } catch (...) {
    file.check();
    throw;
  }
}

}  // namespace tfforge::graph
