// A TFRecord file being written, optionally GZIP/ZLIB-compressed as a whole stream.
//
// Atomic (the default): bytes go to a temporary file in the destination folder, created with O_EXCL and
// O_NOFOLLOW under an unpredictable name (".<name>.tmp-<pid>-<random>", the pid lets a later run tell
// leftovers of dead processes), with the mode the user's umask gives. The file appears under its real
// name only when commit() succeeds: finish() ends the stream, fsyncs and closes it; commit() then
// renames it into place and fsyncs the folder. abort() (and the destructor, if not committed) removes it.
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
  // Ends the stream, fsyncs and closes the file, which keeps its temporary name (atomic mode).
  void finish();
  // finish() if still open, then renames the file to `final_path` (empty: the path given at open)
  // and fsyncs the folder. In place: finish() only.
  void commit(const std::string& final_path = "");
  // Closes and removes the temporary file (in place: closes, leaving what was written).
  void abort();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  bool open() const { return fd_ >= 0; }
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

  std::string path_, temp_;
  Compression compression_;
  bool atomic_;
  int fd_ = -1;
  bool finished_ = false, committed_ = false;
  bool own_temp_ = false;  // the temporary file exists and is ours to remove
  z_stream zs_{};
  bool zs_open_ = false;
  std::unique_ptr<uint8_t[]> zbuf_;
  uint64_t records_ = 0, raw_bytes_ = 0, file_bytes_ = 0;
  std::mutex mutex_;
};

}  // namespace tfforge::record
