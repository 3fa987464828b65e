#include "record/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "record/framing.h"

namespace tfforge::record {
namespace {

constexpr size_t kZBufSize = 1 << 20;

}  // namespace

Compression parse_compression(const std::string& name) {
  std::string n;
  for (char c : name) n.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (n.empty() || n == "none") return Compression::kNone;
  if (n == "gzip" || n == "gz") return Compression::kGzip;
  if (n == "zlib" || n == "zz") return Compression::kZlib;
  throw Error("SpecError", "unknown compression '" + name + "' (expected none, gzip or zlib)");
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kZlib: return "zlib";
  }
  return "?";
}

FileWriter::FileWriter(std::string path, Compression compression, int level, bool atomic)
    : path_(std::move(path)), compression_(compression) {
  if (level < -1 || level > 9) throw Error("SpecError", "compression level must be -1 (default) or 0-9, not " + std::to_string(level));
  if (atomic) {
    atomic_ = std::make_unique<io::AtomicFile>(path_);
  } else {
    // As TensorFlow's writer, but never through a symlink at the path. 0666: the umask decides the mode.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0) io_error("cannot create the output file");
  }
  open_ = true;
  if (compression_ != Compression::kNone) {
    // windowBits 15 writes a zlib stream; 15 + 16 a gzip one. memLevel 9 as TensorFlow's writer uses.
    int bits = compression_ == Compression::kGzip ? MAX_WBITS + 16 : MAX_WBITS;
    if (deflateInit2(&zs_, level, Z_DEFLATED, bits, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
      abort_locked();
      throw Error("TfforgeError", "zlib deflateInit2 failed").at_path(path_);
    }
    zs_open_ = true;
    zbuf_.reset(new uint8_t[kZBufSize]);
  }
}

FileWriter::~FileWriter() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!atomic_ && open_) {
    try {  // in place, like TensorFlow's writer: an unclosed file still ends its stream
      finish_locked();
    } catch (const Error&) {
    }
  }
  if (!committed_) abort_locked();
  if (zs_open_) deflateEnd(&zs_);
}

void FileWriter::io_error(const std::string& what) {
  int err = errno;
  throw Error("OutputError", what + ": " + std::strerror(err)).at_path(path_);
}

void FileWriter::write_fd(const uint8_t* data, size_t n) {
  if (atomic_) {
    atomic_->write(data, n);
    file_bytes_ += n;
    return;
  }
  while (n > 0) {
    ssize_t w = ::write(fd_, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      io_error("write failed");
    }
    data += w;
    n -= size_t(w);
    file_bytes_ += uint64_t(w);
  }
}

void FileWriter::deflate_some(const uint8_t* data, size_t n, int flush) {
  // avail_in is 32-bit: feed huge buffers in pieces.
  do {
    size_t piece = n > (1u << 30) ? (1u << 30) : n;
    zs_.next_in = const_cast<Bytef*>(data);
    zs_.avail_in = uInt(piece);
    data += piece;
    n -= piece;
    int f = n == 0 ? flush : Z_NO_FLUSH;
    int ret;
    do {
      zs_.next_out = zbuf_.get();
      zs_.avail_out = uInt(kZBufSize);
      ret = deflate(&zs_, f);
      if (ret == Z_STREAM_ERROR) throw Error("TfforgeError", "zlib deflate failed").at_path(path_);
      write_fd(zbuf_.get(), kZBufSize - zs_.avail_out);
    } while (zs_.avail_out == 0 || (f == Z_FINISH && ret != Z_STREAM_END));
  } while (n > 0);
}

void FileWriter::write_locked(const uint8_t* data, size_t n, uint64_t records) {
  if (!open_) throw Error("ClosedError", "write to a closed writer").at_path(path_);
  if (compression_ == Compression::kNone)
    write_fd(data, n);
  else
    deflate_some(data, n, Z_NO_FLUSH);
  raw_bytes_ += n;
  records_ += records;
}

void FileWriter::write_framed(const uint8_t* data, size_t n, uint64_t records) {
  std::lock_guard<std::mutex> lock(mutex_);
  write_locked(data, n, records);
}

void FileWriter::write_record(const uint8_t* data, size_t n) {
  uint8_t header[kHeaderSize], footer[kFooterSize];
  encode_header(header, n);
  encode_footer(footer, data, n);
  std::lock_guard<std::mutex> lock(mutex_);
  write_locked(header, kHeaderSize, 0);
  write_locked(data, n, 1);
  write_locked(footer, kFooterSize, 0);
}

void FileWriter::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!open_) throw Error("ClosedError", "flush of a closed writer").at_path(path_);
  if (compression_ != Compression::kNone) deflate_some(nullptr, 0, Z_SYNC_FLUSH);
}

void FileWriter::finish_locked() {
  if (!open_) throw Error("ClosedError", "finish of a closed writer").at_path(path_);
  try {
    if (compression_ != Compression::kNone) deflate_some(nullptr, 0, Z_FINISH);
    if (atomic_) atomic_->sync();
  } catch (...) {
    abort_locked();
    throw;
  }
  open_ = false;
  if (!atomic_) {
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) io_error("cannot finish writing");
  }
  finished_ = true;
}

void FileWriter::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  finish_locked();
}

void FileWriter::commit(const std::string& final_path) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (committed_) throw Error("ClosedError", "commit of a writer already committed").at_path(path_);
  if (!finished_) finish_locked();
  if (atomic_) {
    try {
      atomic_->commit(final_path);
    } catch (...) {
      abort_locked();
      throw;
    }
    path_ = atomic_->path();
  }
  committed_ = true;
}

void FileWriter::abort_locked() {
  open_ = false;
  finished_ = false;
  if (atomic_) atomic_->abort();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void FileWriter::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!committed_) abort_locked();
}

}  // namespace tfforge::record
