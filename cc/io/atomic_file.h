// The one way tfforge writes an output file. Bytes go to a temporary file created in the target's
// directory with O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name (so a planted file or symlink
// is never opened), mode 0666 filtered by the user's umask like any other new file; commit() fsyncs
// the data, renames the temporary file over the target and fsyncs the directory, so the target is
// either the old file or the complete new one. Destroying an uncommitted AtomicFile removes the
// temporary file.
//
// Temporary names are "<dir>/.<base>.tmp-<pid>-<random hex>"; remove_stale_temps() deletes the ones
// whose writing process no longer exists (runs killed with SIGKILL) and whose lock is free (every
// AtomicFile holds an exclusive flock on its temporary file, so a live writer's file is never removed,
// even one whose pid this process cannot see); a new AtomicFile calls it for its own target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tfforge::io {

class AtomicFile {
 public:
  // error_kind: the tfforge.errors class raised for failures (see cc/error.h).
  explicit AtomicFile(std::string path, std::string error_kind = "OutputError");
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends at the current position (retries short writes and EINTR).
  void write(const void* data, size_t n);
  // Writes at an absolute offset without moving the position.
  void pwrite(const void* data, size_t n, uint64_t offset);
  // Allocates `size` bytes up front; a full disk fails here with the path named. False when the file
  // system cannot preallocate (the writes then allocate as usual).
  bool reserve(uint64_t size);
  // Turns O_DIRECT on or off for the writes that follow; false when the file system refuses it. In
  // direct mode the caller passes page-aligned buffers of whole blocks at block-aligned offsets; a
  // direct write the kernel refuses all the same (EINVAL) is retried buffered, with direct mode off.
  bool set_direct(bool on);
  bool direct() const { return direct_; }
  // Sets the file's size (e.g. down to the bytes written after a larger reserve()).
  void truncate(uint64_t size);
  // fsyncs the data; commit() calls it. Useful to make several files durable before renaming any.
  void sync();
  // sync + close + rename over the target (or over `final_path`, which must be in the same
  // directory) + fsync of the directory.
  void commit(const std::string& final_path = "");
  // Closes and removes the temporary file; idempotent.
  void abort();

  int fd() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return written_; }

  // Throws error_kind naming the target path, with strerror(err).
  [[noreturn]] void fail(const std::string& what, int err) const;

 private:
  std::string path_, temp_, kind_;
  int fd_ = -1;
  bool synced_ = false;
  bool direct_ = false;
  uint64_t written_ = 0;
};

// "<dir>/" of a path ("" for a bare name) and its last component.
std::string dir_of(const std::string& path);
std::string base_of(const std::string& path);
// The prefix every temporary name for `path` starts with: "<dir>/.<base>.tmp-".
std::string temp_prefix(const std::string& path);
// fsyncs a directory; file systems that cannot (EINVAL) are ignored. Throws error_kind on EIO etc.
void sync_directory(const std::string& dir, const std::string& error_kind = "OutputError");
// Removes the temporary files "<dir>/.<name>.tmp-<pid>-<hex>" whose <name> starts with `name_prefix`
// and whose process <pid> no longer exists, unless a writer holds its lock. Returns the number removed;
// never throws.
int remove_stale_temps(const std::string& dir, const std::string& name_prefix);
// Removes the temporary files of every AtomicFile of this process still open (a signal is ending the
// process: the CLI's watchdog calls it). Returns the number removed.
int remove_live_temps();

}  // namespace tfforge::io
