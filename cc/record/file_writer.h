// A TFRecord file being written: bytes go to a hidden temporary name in the destination folder and the
// file appears under its real name only when commit() succeeds, so an interrupted run never leaves a
// file that looks complete. Optional GZIP/ZLIB compression of the whole stream.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "record/compression.h"

namespace tfforge::record {

class FileWriter {
 public:
  // level: zlib level (-1 = zlib's default, which is what TensorFlow uses).
  FileWriter(std::string path, Compression compression, int level = -1);
  ~FileWriter();  // removes the temporary file unless committed
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  // Appends already framed records (`records` of them, for the counters).
  void write_framed(const uint8_t* data, size_t n, uint64_t records);
  // Frames and appends one record.
  void write_record(const uint8_t* data, size_t n);
  // Finishes the stream, closes, and renames the file to `final_path` (empty: the path given at open).
  void commit(const std::string& final_path = "");
  // Closes and removes the temporary file.
  void abort();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  bool open() const { return fd_ >= 0; }
  uint64_t records() const { return records_; }
  uint64_t raw_bytes() const { return raw_bytes_; }    // framed bytes before compression
  uint64_t file_bytes() const { return file_bytes_; }  // bytes written to the file

 private:
  void write_fd(const uint8_t* data, size_t n);
  void deflate_some(const uint8_t* data, size_t n, int flush);
  [[noreturn]] void io_error(const std::string& what);

  std::string path_, temp_;
  Compression compression_;
  int fd_ = -1;
  z_stream zs_{};
  bool zs_open_ = false;
  std::unique_ptr<uint8_t[]> zbuf_;
  uint64_t records_ = 0, raw_bytes_ = 0, file_bytes_ = 0;
};

}  // namespace tfforge::record
