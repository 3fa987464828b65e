#include "graph/sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include <cerrno>
#include <cstdio>

#include "error.h"

namespace tfforge::graph {

namespace {
constexpr size_t kBufferSize = 1 << 20;
}

AtomicFileSink::AtomicFileSink(const std::string& path) : path_(path) {
  tmp_ = path + ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("GraphError", std::string("cannot create output file: ") + std::strerror(errno)).at_path(path);
  buf_.reserve(kBufferSize);
}

AtomicFileSink::~AtomicFileSink() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileSink::write_all(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n > (1u << 30) ? (1u << 30) : n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("GraphError", std::string("write failed: ") + std::strerror(errno)).at_path(path_);
    }
    p += w;
    n -= size_t(w);
  }
}

void AtomicFileSink::flush() {
  if (!buf_.empty()) write_all(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicFileSink::put(const void* data, size_t n) {
  if (n >= kBufferSize / 4) {  // big spans skip the buffer
    flush();
    write_all(data, n);
    return;
  }
  if (buf_.size() + n > kBufferSize) flush();
  const uint8_t* b = static_cast<const uint8_t*>(data);
  buf_.insert(buf_.end(), b, b + n);
}

void AtomicFileSink::commit() {
  flush();
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(tmp_.c_str());
    throw Error("GraphError", std::string("close failed: ") + std::strerror(errno)).at_path(path_);
  }
  fd_ = -1;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp_.c_str());
    throw Error("GraphError", std::string("rename failed: ") + std::strerror(errno)).at_path(path_);
  }
}

}  // namespace tfforge::graph
