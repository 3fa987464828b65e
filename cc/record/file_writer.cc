#include "record/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "error.h"
#include "record/framing.h"

namespace tfforge::record {
namespace {

constexpr size_t kZBufSize = 1 << 20;

std::string temp_name_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
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

FileWriter::FileWriter(std::string path, Compression compression, int level)
    : path_(std::move(path)), temp_(temp_name_for(path_)), compression_(compression) {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) io_error("cannot create");
  if (compression_ != Compression::kNone) {
    // windowBits 15 writes a zlib stream; 15 + 16 a gzip one. memLevel 9 as TensorFlow's writer uses.
    int bits = compression_ == Compression::kGzip ? MAX_WBITS + 16 : MAX_WBITS;
    if (deflateInit2(&zs_, level, Z_DEFLATED, bits, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
      abort();
      throw Error("TfforgeError", "zlib deflateInit2 failed").at_path(path_);
    }
    zs_open_ = true;
    zbuf_.reset(new uint8_t[kZBufSize]);
  }
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) abort();
  if (zs_open_) deflateEnd(&zs_);
}

void FileWriter::io_error(const std::string& what) {
  int err = errno;
  throw Error("TfforgeError", what + ": " + std::strerror(err)).at_path(fd_ >= 0 ? path_ : temp_);
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
  zs_.next_in = const_cast<Bytef*>(data);
  zs_.avail_in = 0;
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

void FileWriter::write_framed(const uint8_t* data, size_t n, uint64_t records) {
  if (fd_ < 0) throw Error("TfforgeError", "write to a closed file").at_path(path_);
  if (compression_ == Compression::kNone)
    write_fd(data, n);
  else
    deflate_some(data, n, Z_NO_FLUSH);
  raw_bytes_ += n;
  records_ += records;
}

void FileWriter::write_record(const uint8_t* data, size_t n) {
  uint8_t header[kHeaderSize], footer[kFooterSize];
  encode_header(header, n);
  encode_footer(footer, data, n);
  write_framed(header, kHeaderSize, 0);
  write_framed(data, n, 1);
  write_framed(footer, kFooterSize, 0);
}

void FileWriter::commit(const std::string& final_path) {
  if (fd_ < 0) throw Error("TfforgeError", "commit of a closed file").at_path(path_);
  if (compression_ != Compression::kNone) deflate_some(nullptr, 0, Z_FINISH);
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(temp_.c_str());
    io_error("close failed");
  }
  fd_ = -1;
  if (!final_path.empty()) path_ = final_path;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_.c_str());
    throw Error("TfforgeError", std::string("cannot rename the finished file into place: ") + std::strerror(err))
        .at_path(path_);
  }
}

void FileWriter::abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(temp_.c_str());
  }
}

}  // namespace tfforge::record
