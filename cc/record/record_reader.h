// Sequential TFRecord reader over a file, uncompressed or GZIP/ZLIB. Every record's framing is checked
// (length CRC always, data CRC when verifying); problems raise tfforge::Error("CorruptRecordError") with
// the file, the record index and the byte offset (in the uncompressed stream). In recovery mode the
// reader instead skips what is damaged, resynchronises on the next valid header and reports each skip.
//
// Memory grows only with data actually read: a header claiming a huge length is checked against the
// file size (uncompressed) or a hard bound, and a compressed stream is inflated piece by piece, so a
// corrupt length can never cause a giant allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <zlib.h>

#include "record/compression.h"
#include "wire/wire.h"

namespace tfforge::record {

struct Skipped {
  int64_t record;     // index the next good record would have had
  uint64_t offset;    // where the damage starts
  uint64_t bytes;     // how many bytes were skipped
  std::string reason;
};

struct ReaderOptions {
  bool verify = true;          // check data CRCs
  bool skip_corrupt = false;   // recover instead of raising
  uint64_t max_record = uint64_t(1) << 31;  // records beyond this are treated as corrupt lengths
};

// Compression of an existing file from its name (.gz, .zz/.zlib) or, failing that, its first bytes.
Compression detect_compression(const std::string& path);

class RecordReader {
 public:
  RecordReader(std::string path, Compression compression, ReaderOptions options = {});
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Next record's bytes (valid until the next call); false at the end.
  bool next(wire::Span* record);

  int64_t index() const { return index_; }          // of the record next() returned last
  uint64_t offset() const { return record_offset_; }  // its byte offset
  uint64_t position() const { return stream_pos_; }   // bytes of the stream consumed so far
  const std::string& path() const { return path_; }
  const ReaderOptions& options() const { return opt_; }
  const std::vector<Skipped>& skipped() const { return skipped_; }
  // Records an Example-level problem with the record next() returned last (recovery mode).
  void note_skipped_record(const std::string& reason);

 private:
  bool ensure(size_t n);  // at least n bytes buffered from pos_; false if the stream ends first
  size_t fill(uint8_t* dst, size_t cap);
  [[noreturn]] void corrupt(uint64_t offset, const std::string& what) const;
  void skip_or_throw(uint64_t offset, uint64_t bytes, const std::string& what);
  bool resync();  // after a bad header: find the next offset that starts a valid record

  std::string path_;
  Compression compression_;
  ReaderOptions opt_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  // Inflate state
  z_stream zs_{};
  bool zs_open_ = false;
  bool zs_ended_ = false;
  std::unique_ptr<uint8_t[]> zin_;
  uint64_t compressed_pos_ = 0;
  bool eof_ = false;
  // Buffer of stream bytes [pos_, end_) not yet consumed; buf_offset_ is the stream offset of buf_[0].
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0, pos_ = 0, end_ = 0;
  uint64_t buf_offset_ = 0;
  uint64_t stream_pos_ = 0;
  uint64_t record_offset_ = 0;
  int64_t index_ = -1;
  std::vector<Skipped> skipped_;
};

}  // namespace tfforge::record
