// A TFRecord file being written, optionally GZIP/ZLIB-compressed as a whole stream.
//
// Atomic (the default): bytes go through io::AtomicFile (cc/io/atomic_file.h: a temporary file beside
// the target, O_EXCL|O_NOFOLLOW, unpredictable name, the user's umask; leftovers of killed runs removed).
// The file appears under its real name only when commit() succeeds: finish() ends the stream and fsyncs
// it under its temporary name (so a dataset's shards can all be made durable before any is renamed);
// commit() renames it into place and fsyncs the folder. abort() (and the destructor, if not committed)
// removes it.
//
// In place (atomic = false): the file is written under its own name from the start, as TensorFlow's
// writer does, so another process can read what flush() made visible (TensorBoard-style tailing).
//
// All methods may be called from several threads; calls are serialised.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "io/atomic_file.h"
#include "record/compression.h"

namespace tfforge::record {

class FileWriter {
 public:
  // level: zlib level (-1 = zlib's default, which is what TensorFlow uses).
  FileWriter(std::string path, Compression compression, int level = -1, bool atomic = true);
  ~FileWriter();  // removes the temporary file unless committed
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Appends already framed records (`records` of them, for the counters).
  void write_framed(const uint8_t* data, size_t n, uint64_t records);
  // Frames and appends one record.
  void write_record(const uint8_t* data, size_t n);
  // Hands everything written so far to the operating system; a compressed stream ends its current
  // deflate block (Z_SYNC_FLUSH) so that a reader can inflate all of it.
  void flush();
  // Ends the stream; atomic: fsyncs the file, which keeps its temporary name; in place: closes it.
  void finish();
  // finish() if still open, then renames the file to `final_path` (empty: the path given at open)
  // and fsyncs the folder. In place: finish() only.
  void commit(const std::string& final_path = "");
  // Closes and removes the temporary file (in place: closes, leaving what was written).
  void abort();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return atomic_ ? atomic_->temp_path() : path_; }
  bool open() const { return open_; }  // still accepting records
  bool committed() const { return committed_; }
  uint64_t records() const { return records_; }
  uint64_t raw_bytes() const { return raw_bytes_; }    // framed bytes before compression
  uint64_t file_bytes() const { return file_bytes_; }  // bytes written to the file

 private:
  void write_locked(const uint8_t* data, size_t n, uint64_t records);
  void finish_locked();
  void abort_locked();
  void write_fd(const uint8_t* data, size_t n);
  void deflate_some(const uint8_t* data, size_t n, int flush);
  [[noreturn]] void io_error(const std::string& what);

  std::string path_;
  Compression compression_;
  std::unique_ptr<io::AtomicFile> atomic_;  // atomic mode
  int fd_ = -1;                             // in place
  bool open_ = false, finished_ = false, committed_ = false;
  z_stream zs_{};
  bool zs_open_ = false;
  std::unique_ptr<uint8_t[]> zbuf_;
  uint64_t records_ = 0, raw_bytes_ = 0, file_bytes_ = 0;
  std::mutex mutex_;
};

}  // namespace tfforge::record
