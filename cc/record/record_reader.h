// TFRecord readers over a file, uncompressed or GZIP/ZLIB: RecordReader reads records one after another,
// RandomRecordReader reads the record at a given byte offset. Only regular files are opened (a FIFO or a
// device is refused at once instead of blocking).
//
// RecordReader: every record's framing is checked
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
#include <mutex>
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

// Opens a regular file for reading (O_NONBLOCK while checking, so a FIFO cannot block); throws
// tfforge::Error naming the path otherwise. Returns the descriptor.
int open_regular_file(const std::string& path);

class RecordReader {
 public:
  RecordReader(std::string path, Compression compression, ReaderOptions options = {});
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Next record's bytes (valid until the next call); false at the end.
  bool next(wire::Span* record);
  // Steps over the next record without holding it in memory (its data CRC checked piece by piece when
  // verifying), so counting and verifying need memory independent of record sizes; false at the end.
  bool skip();

  // Held by callers that share one reader between threads (the bindings), over next() and the use of
  // the span it returned.
  std::mutex& mutex() { return mutex_; }

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
  // Reads and checks the header at pos_: 1 = *len is a plausible record length, 0 = the end (or a skip
  // that ended the stream), -1 = damage was skipped and resynchronised, try again.
  int header(uint64_t* len);

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
  std::mutex mutex_;
};

// Reads the record at any byte offset of the (uncompressed) stream and returns where the next one starts,
// like TensorFlow's io::RecordReader::ReadRecord. Nothing read is trusted across calls: the file is read
// again at each offset (compressed files keep their inflate state while offsets only grow, and start over
// otherwise), so a file that grows between calls (tailing) or whose truncated last record is completed
// later reads correctly, and a failed read can be retried at the same offset.
class RandomRecordReader {
 public:
  RandomRecordReader(std::string path, Compression compression, ReaderOptions options = {});
  ~RandomRecordReader();
  RandomRecordReader(const RandomRecordReader&) = delete;
  RandomRecordReader& operator=(const RandomRecordReader&) = delete;

  // The record at `offset` into *record (valid until the next call) and the next record's offset into
  // *next. Returns false when the data ends exactly at `offset`. Throws OutOfRangeError for an offset
  // beyond the end and CorruptRecordError for a truncated or corrupt record (data CRC checked when
  // options.verify), naming the file and offset.
  bool read(uint64_t offset, wire::Span* record, uint64_t* next);
  void close();
  bool closed() const { return fd_ < 0; }
  const std::string& path() const { return path_; }
  std::mutex& mutex() { return mutex_; }

 private:
  // Makes bytes [offset, offset + n) of the stream available at window_ + (offset - win_offset_); false
  // if the stream has fewer bytes now. *have receives how many it has from offset.
  bool ensure(uint64_t offset, size_t n, size_t* have);
  size_t inflate_more();  // appends inflated bytes to the window; 0 when no more input is there now
  void restart();         // inflate from the start of the file again
  uint64_t file_size() const;
  [[noreturn]] void corrupt(uint64_t offset, const std::string& what) const;

  std::string path_;
  Compression compression_;
  ReaderOptions opt_;
  int fd_ = -1;
  z_stream zs_{};
  bool zs_open_ = false, zs_ended_ = false, broken_ = false;
  std::unique_ptr<uint8_t[]> zin_;
  uint64_t file_pos_ = 0;         // compressed bytes read from the file so far
  std::string pending_error_;     // inflate failed after this much output: raised when more is needed
  uint64_t pending_offset_ = 0;
  std::vector<uint8_t> window_;   // window_[wpos_...] holds the stream bytes from win_offset_ on
  size_t wpos_ = 0;
  uint64_t win_offset_ = 0;
  std::mutex mutex_;
};

}  // namespace tfforge::record
