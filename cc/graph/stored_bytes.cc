#include "graph/stored_bytes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "error.h"
#include "graph/mapped_file.h"
#include "record/crc32c.h"

namespace tfforge::graph {
namespace {

std::string crc_text(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

std::shared_ptr<SourceFile> SourceFile::open(const std::string& path, const std::string& error_kind) {
  std::shared_ptr<SourceFile> f(new SourceFile());
  f->path_ = path;
  f->kind_ = error_kind;
  f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f->fd_ < 0) throw Error(error_kind, std::string("cannot open: ") + std::strerror(errno)).at_path(path);
  if (::fstat(f->fd_, &f->stat_) != 0) throw Error(error_kind, std::string("cannot stat: ") + std::strerror(errno)).at_path(path);
  if (!S_ISREG(f->stat_.st_mode)) throw Error(error_kind, "not a regular file").at_path(path);
  settle(f->fd_, f->stat_);  // a file that keeps changing fails its first check() instead
  return f;
}

SourceFile::~SourceFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string SourceFile::change() const {
  struct stat now {};
  if (::fstat(fd_, &now) != 0) return std::string("cannot stat: ") + std::strerror(errno);
  if (now.st_size != stat_.st_size)
    return std::to_string(stat_.st_size) + " bytes when opened, " + std::to_string(now.st_size) + " now";
  if (!same_file_state(now, stat_)) return "rewritten in place";
  return {};
}

StoredBytes::StoredBytes(std::shared_ptr<const SourceFile> file, uint64_t offset, uint64_t size,
                         std::optional<uint32_t> crc32c, std::string what)
    : file_(std::move(file)), offset_(offset), size_(size), crc_(crc32c), what_(std::move(what)) {
  if (offset_ > file_->size() || size_ > file_->size() - offset_)
    fail(std::to_string(size_) + " bytes run past the end of the file (" + std::to_string(file_->size()) + " bytes)", 0);
}

void StoredBytes::fail(const std::string& message, uint64_t at) const {
  throw Error(file_->error_kind(), what_ + ": " + message).at_path(file_->path()).at_offset(int64_t(offset_ + at));
}

void StoredBytes::read(uint64_t at, uint8_t* out, size_t n) const {
  if (at > size_ || n > size_ - at) fail("read outside the stored range", at);
  while (n > 0) {
    ssize_t k = ::pread(file_->fd(), out, std::min<size_t>(n, size_t(1) << 30), off_t(offset_ + at));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) fail(std::string("cannot read: ") + std::strerror(errno), at);
    if (k == 0) fail("the file ends early (it shrank after it was opened)", at);
    out += k;
    at += uint64_t(k);
    n -= size_t(k);
  }
}

void StoredBytes::check() const {
  std::string change = file_->change();
  if (!change.empty()) fail("the file changed while tfforge was reading it (" + change + ")", 0);
}

void StoredBytes::finish(uint32_t crc) const {
  check();
  if (crc_ && crc != *crc_)
    fail("CRC32C mismatch (index says " + crc_text(*crc_) + ", data has " + crc_text(crc) + ")", 0);
}

void StoredBytes::append_to(std::string* out) const {
  size_t start = out->size();
  out->resize(start + size_);
  uint8_t* p = reinterpret_cast<uint8_t*>(out->data()) + start;
  read(0, p, size_t(size_));
  finish(crc32c::value(p, size_t(size_)));
}

}  // namespace tfforge::graph
