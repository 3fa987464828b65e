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

uint64_t read_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

int open_regular_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error("TfforgeError", std::string("cannot open: ") + std::strerror(errno)).at_path(path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("TfforgeError", S_ISDIR(st.st_mode) ? "is a directory, not a TFRecord file"
                                                    : "not a regular file (a FIFO, socket or device is not read)")
        .at_path(path);
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

Compression detect_compression(const std::string& path) {
  int fd = open_regular_file(path);  // also for named files: a FIFO must be refused, not block later
  if (ends_with(path, ".gz") || ends_with(path, ".gzip")) {
    ::close(fd);
    return Compression::kGzip;
  }
  if (ends_with(path, ".zz") || ends_with(path, ".zlib")) {
    ::close(fd);
    return Compression::kZlib;
  }
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
  fd_ = open_regular_file(path_);
  struct stat st;
  if (::fstat(fd_, &st) == 0) file_size_ = uint64_t(st.st_size);
  if (compression_ != Compression::kNone) {
    // 15 + 32: accept a zlib or a gzip header, whichever the stream has.
    if (inflateInit2(&zs_, MAX_WBITS + 32) != Z_OK) {
      ::close(fd_);
      throw Error("TfforgeError", "zlib inflateInit2 failed").at_path(path_);
    }
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

int RecordReader::header(uint64_t* len_out) {
  uint64_t off = buf_offset_ + pos_;
  if (!ensure(kHeaderSize)) {
    if (end_ == pos_) return 0;
    skip_or_throw(off, end_ - pos_, "truncated record header (" + std::to_string(end_ - pos_) + " of 12 bytes)");
    pos_ = end_;
    return 0;
  }
  const uint8_t* h = buf_.get() + pos_;
  uint64_t len = read_u64(h);
  if (!header_ok(h)) {
    skip_or_throw(off, 0, "bad length CRC (corrupt record header)");
    return resync() ? -1 : 0;
  }
  bool beyond_file = compression_ == Compression::kNone && off + kFramingOverhead + len > file_size_;
  if (beyond_file) {
    skip_or_throw(off, file_size_ - off, "record length " + std::to_string(len) + " runs past the end of the file (" +
                                             std::to_string(file_size_) + " bytes): truncated file");
    pos_ = end_;
    eof_ = true;
    return 0;
  }
  if (len > opt_.max_record) {
    skip_or_throw(off, 0, "record length " + std::to_string(len) + " exceeds the limit of " +
                              std::to_string(opt_.max_record) + " bytes");
    return resync() ? -1 : 0;
  }
  *len_out = len;
  return 1;
}

bool RecordReader::next(wire::Span* record) {
  for (;;) {
    uint64_t off = buf_offset_ + pos_, len = 0;
    int h = header(&len);
    if (h == 0) return false;
    if (h < 0) continue;
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

bool RecordReader::skip() {
  for (;;) {
    uint64_t off = buf_offset_ + pos_, len = 0;
    int h = header(&len);
    if (h == 0) return false;
    if (h < 0) continue;
    // The data goes through the read buffer piece by piece; only its CRC is kept.
    pos_ += kHeaderSize;
    uint64_t left = len;
    uint32_t crc = 0;
    while (left > 0 && (end_ > pos_ || ensure(1))) {
      size_t take = size_t(std::min<uint64_t>(left, end_ - pos_));
      if (opt_.verify) crc = crc32c::extend(crc, buf_.get() + pos_, take);
      pos_ += take;
      left -= take;
    }
    if (left > 0 || !ensure(kFooterSize)) {
      uint64_t present = len - left;
      skip_or_throw(off, kHeaderSize + present + (end_ - pos_),
                    "truncated record: " + std::to_string(len) + " data bytes announced, " + std::to_string(present) +
                        " present");
      pos_ = end_;
      return false;
    }
    uint32_t stored;
    std::memcpy(&stored, buf_.get() + pos_, 4);
    pos_ += kFooterSize;
    if (opt_.verify && crc32c::mask(crc) != stored) {
      skip_or_throw(off, kFramingOverhead + len, "bad data CRC");
      ++index_;
      continue;
    }
    ++index_;
    stream_pos_ = buf_offset_ + pos_;
    record_offset_ = off;
    return true;
  }
}

RandomRecordReader::RandomRecordReader(std::string path, Compression compression, ReaderOptions options)
    : path_(std::move(path)), compression_(compression), opt_(options) {
  fd_ = open_regular_file(path_);
  if (compression_ != Compression::kNone) {
    zin_.reset(new uint8_t[kReadSize]);
    try {
      restart();
    } catch (...) {
      close();
      throw;
    }
  }
}

RandomRecordReader::~RandomRecordReader() { close(); }

void RandomRecordReader::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (zs_open_) inflateEnd(&zs_);
  zs_open_ = false;
  std::vector<uint8_t>().swap(window_);
  wpos_ = 0;
}

void RandomRecordReader::corrupt(uint64_t offset, const std::string& what) const {
  throw Error("CorruptRecordError", what).at_path(path_).at_offset(int64_t(offset));
}

void RandomRecordReader::restart() {
  if (zs_open_) inflateEnd(&zs_);
  zs_open_ = false;
  zs_ = z_stream{};
  if (inflateInit2(&zs_, MAX_WBITS + 32) != Z_OK) throw Error("TfforgeError", "zlib inflateInit2 failed").at_path(path_);
  zs_open_ = true;
  zs_ended_ = broken_ = false;
  pending_error_.clear();
  file_pos_ = 0;
  window_.clear();
  wpos_ = 0;
  win_offset_ = 0;
}

size_t RandomRecordReader::inflate_more() {
  if (!pending_error_.empty()) {
    broken_ = true;  // the next read starts over (and meets the same damage unless it was repaired)
    throw Error("CorruptRecordError", pending_error_).at_path(path_).at_offset(int64_t(pending_offset_));
  }
  if (wpos_ > 0 && wpos_ >= window_.size() / 2) {  // drop consumed bytes before growing
    window_.erase(window_.begin(), window_.begin() + std::ptrdiff_t(wpos_));
    wpos_ = 0;
  }
  size_t before = window_.size();
  window_.resize(before + kReadSize);
  zs_.next_out = window_.data() + before;
  zs_.avail_out = uInt(kReadSize);
  while (zs_.avail_out == kReadSize) {
    if (zs_.avail_in == 0) {
      ssize_t n;
      do n = ::pread(fd_, zin_.get(), kReadSize, off_t(file_pos_)); while (n < 0 && errno == EINTR);
      if (n < 0) {
        window_.resize(before);
        throw Error("TfforgeError", std::string("read failed: ") + std::strerror(errno)).at_path(path_);
      }
      if (n == 0) break;  // no more input now; a growing file may have more later
      file_pos_ += uint64_t(n);
      zs_.next_in = zin_.get();
      zs_.avail_in = uInt(n);
    }
    if (zs_ended_) {  // concatenated streams (gzip members) follow one another
      inflateReset(&zs_);
      zs_ended_ = false;
    }
    int ret = inflate(&zs_, Z_NO_FLUSH);
    if (ret == Z_STREAM_END) {
      zs_ended_ = true;
    } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
      // What inflated before the damage is still good: hand it out, and fail when more is needed.
      pending_error_ = std::string("compressed data is corrupt (") + (zs_.msg ? zs_.msg : "zlib error") + ")";
      pending_offset_ = file_pos_ - zs_.avail_in;
      break;
    }
  }
  size_t got = kReadSize - zs_.avail_out;
  window_.resize(before + got);
  if (got == 0 && !pending_error_.empty()) return inflate_more();  // throws
  return got;
}

bool RandomRecordReader::ensure(uint64_t offset, size_t n, size_t* have) {
  uint64_t win_end = win_offset_ + (window_.size() - wpos_);
  if (compression_ == Compression::kNone) {
    if (offset >= win_offset_ && offset + n <= win_end) {
      *have = size_t(win_end - offset);
      return true;
    }
    // Read again from the file: it may have grown or been completed since the last call.
    size_t want = std::max(n, kReadSize), got = 0;
    window_.resize(want);
    wpos_ = 0;
    win_offset_ = offset;
    while (got < want) {
      ssize_t r = ::pread(fd_, window_.data() + got, want - got, off_t(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        window_.clear();
        throw Error("TfforgeError", std::string("read failed: ") + std::strerror(errno)).at_path(path_);
      }
      if (r == 0) break;
      got += size_t(r);
    }
    window_.resize(got);
    *have = got;
    return got >= n;
  }
  if (broken_ || offset < win_offset_) restart();
  for (;;) {  // inflate up to offset, dropping what lies before it
    uint64_t drop = std::min<uint64_t>(offset - win_offset_, window_.size() - wpos_);
    wpos_ += size_t(drop);
    win_offset_ += drop;
    if (win_offset_ == offset) break;
    if (inflate_more() == 0) {
      *have = 0;
      return false;
    }
  }
  while (window_.size() - wpos_ < n && inflate_more() > 0) {
  }
  *have = window_.size() - wpos_;
  return *have >= n;
}

bool RandomRecordReader::read(uint64_t offset, wire::Span* record, uint64_t* next) {
  if (fd_ < 0) throw Error("ClosedError", "the reader is closed").at_path(path_);
  size_t have = 0;
  if (!ensure(offset, kHeaderSize, &have)) {
    if (have > 0)
      corrupt(offset, "truncated record: " + std::to_string(have) + " of the 12 header bytes present");
    bool at_end = compression_ == Compression::kNone ? offset <= file_size() : win_offset_ == offset;
    if (at_end) return false;
    throw Error("OutOfRangeError", "Out of range at reading offset " + std::to_string(offset) +
                                       ": beyond the end of the data")
        .at_path(path_);
  }
  const uint8_t* h = window_.data() + wpos_ + (offset - win_offset_);
  uint64_t len = read_u64(h);
  if (!header_ok(h)) corrupt(offset, "corrupted record: bad length CRC (no record starts here, or its header is damaged)");
  if (len > opt_.max_record)
    corrupt(offset, "corrupted record: length " + std::to_string(len) + " exceeds the limit of " +
                        std::to_string(opt_.max_record) + " bytes");
  size_t need = size_t(kFramingOverhead + len);
  // Uncompressed: the file size bounds what a length may claim before anything is allocated for it.
  if (compression_ == Compression::kNone && offset + need > file_size())
    corrupt(offset, "truncated record: " + std::to_string(len) + " data bytes announced, the file ends " +
                        std::to_string(file_size() - std::min(file_size(), offset + kHeaderSize)) + " bytes after the header");
  if (!ensure(offset, need, &have))
    corrupt(offset, "truncated record: " + std::to_string(len) + " data bytes announced, " +
                        std::to_string(have > kHeaderSize ? have - kHeaderSize : 0) + " present");
  h = window_.data() + wpos_ + (offset - win_offset_);
  const uint8_t* d = h + kHeaderSize;
  if (opt_.verify) {
    uint32_t stored;
    std::memcpy(&stored, d + len, 4);
    if (crc32c::mask(crc32c::value(d, len)) != stored) corrupt(offset, "corrupted record: bad data CRC");
  }
  record->data = d;
  record->size = size_t(len);
  *next = offset + need;
  return true;
}

uint64_t RandomRecordReader::file_size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) throw Error("TfforgeError", std::string("stat failed: ") + std::strerror(errno)).at_path(path_);
  return uint64_t(st.st_size);
}

}  // namespace tfforge::record
