#include "record/record_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "record/crc32c.h"
#include "record/framing.h"

namespace tfforge::record {
namespace {

constexpr size_t kReadSize = 1 << 20;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool header_ok(const uint8_t* p) {
  uint32_t stored;
  std::memcpy(&stored, p + 8, 4);
  return crc32c::mask(crc32c::value(p, 8)) == stored;
}

uint64_t read_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

Compression detect_compression(const std::string& path) {
  if (ends_with(path, ".gz") || ends_with(path, ".gzip")) return Compression::kGzip;
  if (ends_with(path, ".zz") || ends_with(path, ".zlib")) return Compression::kZlib;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("TfforgeError", std::string("cannot open: ") + std::strerror(errno)).at_path(path);
  uint8_t head[12];
  ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
  // A valid first header (its length CRC matches) means plain TFRecord: 32 bits of evidence.
  if (n == 12 && header_ok(head)) return Compression::kNone;
  if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return Compression::kGzip;
  if (n >= 2 && (head[0] & 0x0f) == 8 && ((head[0] << 8) | head[1]) % 31 == 0) return Compression::kZlib;
  return Compression::kNone;  // let the reader report what is wrong with it
}

RecordReader::RecordReader(std::string path, Compression compression, ReaderOptions options)
    : path_(std::move(path)), compression_(compression), opt_(options) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error("TfforgeError", std::string("cannot open: ") + std::strerror(errno)).at_path(path_);
  struct stat st;
  if (::fstat(fd_, &st) == 0) file_size_ = uint64_t(st.st_size);
  if (compression_ != Compression::kNone) {
    // 15 + 32: accept a zlib or a gzip header, whichever the stream has.
    if (inflateInit2(&zs_, MAX_WBITS + 32) != Z_OK) throw Error("TfforgeError", "zlib inflateInit2 failed").at_path(path_);
    zs_open_ = true;
    zin_.reset(new uint8_t[kReadSize]);
  }
}

RecordReader::~RecordReader() {
  if (fd_ >= 0) ::close(fd_);
  if (zs_open_) inflateEnd(&zs_);
}

void RecordReader::corrupt(uint64_t offset, const std::string& what) const {
  throw Error("CorruptRecordError", what).at_path(path_).at_record(index_ + 1).at_offset(int64_t(offset));
}

size_t RecordReader::fill(uint8_t* dst, size_t cap) {
  if (compression_ == Compression::kNone) {
    for (;;) {
      ssize_t n = ::read(fd_, dst, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error("TfforgeError", std::string("read failed: ") + std::strerror(errno)).at_path(path_);
      return size_t(n);
    }
  }
  zs_.next_out = dst;
  zs_.avail_out = uInt(std::min<size_t>(cap, 1u << 30));
  size_t want = zs_.avail_out;
  while (zs_.avail_out == want) {
    if (zs_.avail_in == 0) {
      ssize_t n;
      do n = ::read(fd_, zin_.get(), kReadSize); while (n < 0 && errno == EINTR);
      if (n < 0) throw Error("TfforgeError", std::string("read failed: ") + std::strerror(errno)).at_path(path_);
      if (n == 0) {
        if (!zs_ended_ && (compressed_pos_ > 0))
          throw Error("CorruptRecordError", "compressed stream ends before its end marker (truncated file)")
              .at_path(path_).at_offset(int64_t(compressed_pos_)).at_record(index_ + 1);
        return 0;
      }
      zs_.next_in = zin_.get();
      zs_.avail_in = uInt(n);
    }
    if (zs_ended_) {
      // Concatenated streams (several gzip members) are read one after another.
      inflateReset(&zs_);
      zs_ended_ = false;
    }
    uInt before_in = zs_.avail_in;
    int ret = inflate(&zs_, Z_NO_FLUSH);
    compressed_pos_ += before_in - zs_.avail_in;
    if (ret == Z_STREAM_END) {
      zs_ended_ = true;
    } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
      throw Error("CorruptRecordError",
                  std::string("compressed data is corrupt (") + (zs_.msg ? zs_.msg : "zlib error") + ")")
          .at_path(path_).at_offset(int64_t(compressed_pos_)).at_record(index_ + 1);
    }
  }
  return want - zs_.avail_out;
}

bool RecordReader::ensure(size_t n) {
  while (end_ - pos_ < n) {
    if (eof_) return false;
    if (pos_ > 0) {  // move the unread tail to the front
      std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
      buf_offset_ += pos_;
      end_ -= pos_;
      pos_ = 0;
    }
    if (cap_ - end_ < kReadSize) {
      // Grow with the data that actually arrives, never straight to a size a header claims.
      size_t cap = std::max(cap_ * 2, end_ + kReadSize);
      std::unique_ptr<uint8_t[]> bigger(new uint8_t[cap]);
      if (end_) std::memcpy(bigger.get(), buf_.get(), end_);
      buf_ = std::move(bigger);
      cap_ = cap;
    }
    size_t got;
    try {
      got = fill(buf_.get() + end_, cap_ - end_);
    } catch (const Error& e) {
      if (!opt_.skip_corrupt || e.kind != "CorruptRecordError") throw;
      skipped_.push_back({index_ + 1, buf_offset_ + end_, 0, e.what()});
      got = 0;
    }
    if (got == 0) eof_ = true;
    end_ += got;
  }
  return true;
}

void RecordReader::skip_or_throw(uint64_t offset, uint64_t bytes, const std::string& what) {
  if (!opt_.skip_corrupt) corrupt(offset, what);
  skipped_.push_back({index_ + 1, offset, bytes, what});
}

void RecordReader::note_skipped_record(const std::string& reason) {
  skipped_.push_back({index_, record_offset_, 0, reason});
}

bool RecordReader::resync() {
  // Slide one byte at a time until a header and its data CRC both check out.
  uint64_t start = buf_offset_ + pos_;
  for (;;) {
    ++pos_;
    if (!ensure(kHeaderSize)) break;
    const uint8_t* h = buf_.get() + pos_;
    if (!header_ok(h)) continue;
    uint64_t len = read_u64(h);
    if (len > opt_.max_record) continue;
    if (compression_ == Compression::kNone && buf_offset_ + pos_ + kFramingOverhead + len > file_size_) continue;
    if (!ensure(kHeaderSize + len + kFooterSize)) continue;
    const uint8_t* d = buf_.get() + pos_ + kHeaderSize;
    uint32_t stored;
    std::memcpy(&stored, d + len, 4);
    if (crc32c::mask(crc32c::value(d, len)) != stored) continue;
    skipped_.back().bytes = buf_offset_ + pos_ - start + skipped_.back().bytes;
    return true;
  }
  pos_ = end_;
  skipped_.back().bytes = buf_offset_ + end_ - start + skipped_.back().bytes;
  return false;
}

bool RecordReader::next(wire::Span* record) {
  for (;;) {
    uint64_t off = buf_offset_ + pos_;
    if (!ensure(kHeaderSize)) {
      if (end_ == pos_) return false;
      skip_or_throw(off, end_ - pos_, "truncated record header (" + std::to_string(end_ - pos_) + " of 12 bytes)");
      pos_ = end_;
      return false;
    }
    const uint8_t* h = buf_.get() + pos_;
    uint64_t len = read_u64(h);
    if (!header_ok(h)) {
      skip_or_throw(off, 0, "bad length CRC (corrupt record header)");
      if (!resync()) return false;
      continue;
    }
    bool beyond_file = compression_ == Compression::kNone && off + kFramingOverhead + len > file_size_;
    if (len > opt_.max_record || beyond_file) {
      std::string what = beyond_file ? "record length " + std::to_string(len) + " runs past the end of the file (" +
                                           std::to_string(file_size_) + " bytes): truncated file"
                                     : "record length " + std::to_string(len) + " exceeds the limit of " +
                                           std::to_string(opt_.max_record) + " bytes";
      if (beyond_file) {
        skip_or_throw(off, file_size_ - off, what);
        pos_ = end_;
        eof_ = true;
        return false;
      }
      skip_or_throw(off, 0, what);
      if (!resync()) return false;
      continue;
    }
    if (!ensure(kHeaderSize + len + kFooterSize)) {
      skip_or_throw(off, end_ - pos_, "truncated record: " + std::to_string(len) + " data bytes announced, " +
                                          std::to_string(end_ - pos_ - std::min<size_t>(end_ - pos_, kHeaderSize)) +
                                          " present");
      pos_ = end_;
      return false;
    }
    const uint8_t* d = buf_.get() + pos_ + kHeaderSize;
    if (opt_.verify) {
      uint32_t stored;
      std::memcpy(&stored, d + len, 4);
      if (crc32c::mask(crc32c::value(d, len)) != stored) {
        skip_or_throw(off, kFramingOverhead + len, "bad data CRC");
        pos_ += kFramingOverhead + len;
        ++index_;  // the record was there, only damaged: it keeps its index
        continue;
      }
    }
    pos_ += kFramingOverhead + len;
    stream_pos_ = buf_offset_ + pos_;
    ++index_;
    record_offset_ = off;
    record->data = d;
    record->size = size_t(len);
    return true;
  }
}

}  // namespace tfforge::record
