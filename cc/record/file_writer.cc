#include "record/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/random.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "error.h"
#include "record/framing.h"

namespace tfforge::record {
namespace {

constexpr size_t kZBufSize = 1 << 20;

std::string random_hex() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != ssize_t(sizeof r)) {
    std::random_device rd;
    r = (uint64_t(rd()) << 32) ^ rd();
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

std::string folder_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// ".<name>.tmp-<pid>-<16 random hex digits>" beside the target.
std::string temp_name_for(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + base + ".tmp-" + std::to_string(::getpid()) + "-" + random_hex();
}

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
    : path_(std::move(path)), compression_(compression), atomic_(atomic) {
  if (level < -1 || level > 9) throw Error("SpecError", "compression level must be -1 (default) or 0-9, not " + std::to_string(level));
  if (atomic_) {
    // 0666: the user's umask decides the mode, as for any new file. O_EXCL + O_NOFOLLOW: a name planted
    // by someone else (a symlink included) is never opened; the name is unpredictable anyway.
    for (int attempt = 0; fd_ < 0 && attempt < 8; ++attempt) {
      temp_ = temp_name_for(path_);
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    own_temp_ = fd_ >= 0;
  } else {
    temp_ = path_;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
  }
  if (fd_ < 0) io_error("cannot create");
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
  if (!atomic_ && fd_ >= 0) {
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
  throw Error("TfforgeError", what + ": " + std::strerror(err)).at_path(path_);
}

void FileWriter::write_fd(const uint8_t* data, size_t n) {
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
  if (fd_ < 0) throw Error("ClosedError", "write to a closed writer").at_path(path_);
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
  if (fd_ < 0) throw Error("ClosedError", "flush of a closed writer").at_path(path_);
  if (compression_ != Compression::kNone) deflate_some(nullptr, 0, Z_SYNC_FLUSH);
}

void FileWriter::finish_locked() {
  if (fd_ < 0) throw Error("ClosedError", "finish of a closed writer").at_path(path_);
  try {
    if (compression_ != Compression::kNone) deflate_some(nullptr, 0, Z_FINISH);
    if (atomic_ && ::fsync(fd_) != 0) io_error("fsync failed");
  } catch (...) {
    abort_locked();
    throw;
  }
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    int err = errno;
    abort_locked();
    errno = err;
    io_error("close failed");
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
  if (!final_path.empty()) path_ = final_path;
  if (atomic_) {
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      int err = errno;
      abort_locked();
      throw Error("TfforgeError", std::string("cannot rename the finished file into place: ") + std::strerror(err))
          .at_path(path_);
    }
    own_temp_ = false;
    int dfd = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // the rename itself must survive a crash too
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  committed_ = true;
}

void FileWriter::abort_locked() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (own_temp_) ::unlink(temp_.c_str());
  own_temp_ = false;
  finished_ = false;
}

void FileWriter::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!committed_) abort_locked();
}

}  // namespace tfforge::record
