#include "checkpoint/bundle_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "checkpoint/bundle_reader.h"
#include "checkpoint/dtypes.h"
#include "checkpoint/table.h"
#include "error.h"
#include "record/crc32c.h"

namespace tfforge::checkpoint {

[[noreturn]] static void io_fail(const std::string& what, const std::string& path) {
  throw Error("CheckpointError", what + ": " + std::strerror(errno)).at_path(path);
}

static std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

// A file written under an unpredictable temporary name beside `target` (O_EXCL, never following a
// symlink, mode from the umask), fsync'd and renamed onto `target` by commit(); removed otherwise.
class TempFile {
 public:
  explicit TempFile(std::string target) : target_(std::move(target)) {
    std::random_device rd;
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp-%08x%08x", rd(), rd());
    size_t slash = target_.rfind('/');
    std::string base = slash == std::string::npos ? target_ : target_.substr(slash + 1);
    path_ = dir_of(target_) + "/." + base + suffix;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0) io_fail("cannot create a temporary file", path_);
    buf_.reserve(kBuffer);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  void write(const void* p, size_t n) {
    if (buf_.size() + n > kBuffer) flush();
    if (n >= kBuffer) return raw_write(static_cast<const uint8_t*>(p), n);
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  void commit() {
    flush();
    if (::fsync(fd_) != 0) io_fail("cannot sync", path_);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) io_fail("cannot close", path_);
    if (::rename(path_.c_str(), target_.c_str()) != 0) io_fail("cannot rename into place", target_);
    committed_ = true;
  }

 private:
  static constexpr size_t kBuffer = size_t(8) << 20;
  void flush() {
    raw_write(buf_.data(), buf_.size());
    buf_.clear();
  }
  void raw_write(const uint8_t* p, size_t n) {
    while (n) {
      ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) io_fail("cannot write", path_);
      p += k;
      n -= size_t(k);
    }
  }
  std::string target_, path_;
  int fd_ = -1;
  bool committed_ = false;
  std::vector<uint8_t> buf_;
};

BundleWriter::BundleWriter(std::string prefix) : prefix_(std::move(prefix)) {
  data_ = std::make_unique<TempFile>(prefix_ + ".data-00000-of-00001");
}

BundleWriter::~BundleWriter() = default;

Entry& BundleWriter::new_entry(const std::string& name, int dtype, const std::vector<int64_t>& shape) {
  if (failed_) throw Error("CheckpointError", "an earlier write to this checkpoint failed").at_path(prefix_);
  if (finished_) throw Error("CheckpointError", "checkpoint writer already finished").at_path(prefix_);
  if (name.empty()) throw Error("CheckpointError", "a tensor name must not be empty").at_path(prefix_);
  for (int64_t d : shape)
    if (d < 0) throw Error("CheckpointError", "tensor '" + name + "': negative dimension").at_path(prefix_);
  auto [it, fresh] = entries_.try_emplace(name);
  if (!fresh) throw Error("CheckpointError", "tensor '" + name + "' added twice").at_path(prefix_);
  it->second.dtype = dtype;
  it->second.shape = shape;
  it->second.offset = size_;
  return it->second;
}

void BundleWriter::append(const void* p, size_t n) {
  try {
    data_->write(p, n);
  } catch (...) {
    failed_ = true;
    throw;
  }
  size_ += int64_t(n);
}

void BundleWriter::add(const std::string& name, int dtype, const std::vector<int64_t>& shape, wire::Span data) {
  std::lock_guard<std::mutex> lock(mu_);
  int es = element_size(dtype);
  if (!es) throw Error("CheckpointError", "tensor '" + name + "': dtype " + std::to_string(dtype) + " is not fixed-size").at_path(prefix_);
  int64_t n = num_elements(shape);
  if (n < 0 || uint64_t(n) * uint64_t(es) != data.size)
    throw Error("CheckpointError", "tensor '" + name + "': " + std::to_string(data.size) + " bytes for " +
                std::to_string(n) + " elements").at_path(prefix_);
  Entry& e = new_entry(name, dtype, shape);
  e.size = int64_t(data.size);
  e.crc32c = crc32c::mask(crc32c::value(data.data, data.size));
  append(data.data, data.size);
}

void BundleWriter::add_elements(const std::string& name, int dtype, const std::vector<int64_t>& shape,
                                const std::vector<wire::Span>& elements) {
  std::lock_guard<std::mutex> lock(mu_);
  if (dtype != kDtString && dtype != kDtVariant)
    throw Error("CheckpointError", "tensor '" + name + "': elements given for a fixed-size dtype").at_path(prefix_);
  int64_t n = num_elements(shape);
  if (n < 0 || uint64_t(n) != elements.size())
    throw Error("CheckpointError", "tensor '" + name + "': " + std::to_string(elements.size()) + " elements for shape of " +
                std::to_string(n)).at_path(prefix_);
  Entry& e = new_entry(name, dtype, shape);
  int64_t start = size_;
  uint32_t crc = 0;
  uint8_t tmp[10];
  if (dtype == kDtString) {
    // [varint64 length]... [masked CRC32C of the lengths as uint32 (uint64 past 4 GB)] [bytes]...
    std::vector<uint8_t> lengths;
    for (const wire::Span& s : elements) {
      lengths.insert(lengths.end(), tmp, wire::put_varint(tmp, s.size));
      if (s.size <= 0xffffffffull) {
        uint32_t v = uint32_t(s.size);
        crc = crc32c::extend(crc, &v, 4);
      } else {
        uint64_t v = s.size;
        crc = crc32c::extend(crc, &v, 8);
      }
    }
    append(lengths.data(), lengths.size());
    uint32_t masked = crc32c::mask(crc);
    append(&masked, 4);
    crc = crc32c::extend(crc, &masked, 4);
    for (const wire::Span& s : elements) {
      append(s.data, s.size);
      crc = crc32c::extend(crc, s.data, s.size);
    }
  } else {
    // per element: [varint64 length] [bytes] [masked running CRC32C]
    for (const wire::Span& s : elements) {
      uint64_t len = s.size;
      append(tmp, size_t(wire::put_varint(tmp, len) - tmp));
      crc = crc32c::extend(crc, &len, 8);
      append(s.data, s.size);
      crc = crc32c::extend(crc, s.data, s.size);
      uint32_t masked = crc32c::mask(crc);
      append(&masked, 4);
      crc = crc32c::extend(crc, &masked, 4);
    }
  }
  e.size = size_ - start;
  e.crc32c = crc32c::mask(crc);
}

void BundleWriter::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_) throw Error("CheckpointError", "an earlier write to this checkpoint failed; nothing was written").at_path(prefix_);
  if (finished_) throw Error("CheckpointError", "checkpoint writer already finished").at_path(prefix_);
  finished_ = true;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.reserve(entries_.size() + 1);
  rows.emplace_back("", encode_header(Header{}));
  for (const auto& [name, e] : entries_) rows.emplace_back(name, encode_entry(e));
  std::vector<uint8_t> table = build_table(rows);
  TempFile index(prefix_ + ".index");
  index.write(table.data(), table.size());
  data_->commit();
  index.commit();
  int dir = ::open(dir_of(prefix_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace tfforge::checkpoint
