#include "io/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <set>

#include "error.h"

namespace tfforge::io {
namespace {

uint64_t random64() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) == ssize_t(sizeof v)) return v;
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The pid in a temporary name ".<name>.tmp-<pid>-<16 hex>", or -1 when `name` is not one.
long temp_name_pid(const std::string& name) {
  size_t at = name.rfind(".tmp-");
  if (at == std::string::npos || name.size() < at + 5 + 1 + 1 + 16) return -1;
  size_t dash = name.size() - 17;
  if (name[dash] != '-') return -1;
  for (size_t i = dash + 1; i < name.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return -1;
  long pid = 0;
  for (size_t i = at + 5; i < dash; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i])) || pid > 100000000) return -1;
    pid = pid * 10 + (name[i] - '0');
  }
  return dash > at + 5 ? pid : -1;
}

bool process_exists(long pid) { return pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno == EPERM); }

// True when a writer holds the lock on the regular file at `path` (a live write whose pid this process
// cannot see, e.g. from another PID namespace); false when it is free or cannot be opened.
bool locked_by_writer(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return true;  // cannot tell: leave it
  bool locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);  // the lock (if we got it) goes with the descriptor
  return locked;
}

// Temporary paths of the AtomicFiles open in this process, for remove_live_temps().
std::mutex live_mutex;
std::set<std::string>& live_temps() {
  static auto* live = new std::set<std::string>();  // never destroyed: usable during exit
  return *live;
}
void set_live(const std::string& temp, bool live) {
  std::lock_guard<std::mutex> lock(live_mutex);
  if (live)
    live_temps().insert(temp);
  else
    live_temps().erase(temp);
}

}  // namespace

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

std::string base_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string temp_prefix(const std::string& path) { return dir_of(path) + "." + base_of(path) + ".tmp-"; }

void sync_directory(const std::string& dir, const std::string& error_kind) {
  std::string d = dir.empty() ? "." : dir;
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // e.g. a directory we may write into but not read: the rename itself stands
  int rc = ::fsync(fd), err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL && err != EROFS && err != EBADF)
    throw Error(error_kind, std::string("cannot sync the directory: ") + std::strerror(err)).at_path(d);
}

int remove_live_temps() {
  std::lock_guard<std::mutex> lock(live_mutex);
  int removed = 0;
  for (const std::string& temp : live_temps()) removed += ::unlink(temp.c_str()) == 0;
  live_temps().clear();
  return removed;
}

int remove_stale_temps(const std::string& dir, const std::string& name_prefix) {
  std::string d = dir.empty() ? "." : dir;
  DIR* dp = ::opendir(d.c_str());
  if (!dp) return 0;
  std::string want = "." + name_prefix;
  int removed = 0;
  while (struct dirent* e = ::readdir(dp)) {
    std::string name = e->d_name;
    if (name.compare(0, want.size(), want) != 0) continue;
    long pid = temp_name_pid(name);
    if (pid <= 0 || process_exists(pid)) continue;
    std::string full = (d.back() == '/' ? d : d + "/") + name;
    struct stat st;
    if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && !locked_by_writer(full) && ::unlink(full.c_str()) == 0)
      ++removed;
  }
  ::closedir(dp);
  return removed;
}

AtomicFile::AtomicFile(std::string path, std::string error_kind) : path_(std::move(path)), kind_(std::move(error_kind)) {
  if (path_.empty() || path_.back() == '/') throw Error(kind_, "not a file name").at_path(path_);
  remove_stale_temps(dir_of(path_), base_of(path_));
  std::string prefix = temp_prefix(path_) + std::to_string(::getpid()) + "-";
  for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
    temp_ = prefix + hex16(random64());
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0 && errno != EEXIST) fail("cannot create output file", errno);
  }
  if (fd_ < 0) fail("cannot create a temporary file beside the output", EEXIST);
  ::flock(fd_, LOCK_EX | LOCK_NB);  // held while writing: remove_stale_temps() leaves a locked file alone
  set_live(temp_, true);
}

AtomicFile::~AtomicFile() { abort(); }

void AtomicFile::fail(const std::string& what, int err) const {
  throw Error(kind_, what + ": " + std::strerror(err)).at_path(path_);
}

void AtomicFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw Error(kind_, "write to a closed file").at_path(path_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n > (size_t(1) << 30) ? (size_t(1) << 30) : n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct_ && set_direct(false)) continue;  // direct I/O refused here: buffered
      fail("write failed", errno);
    }
    p += w;
    n -= size_t(w);
    written_ += uint64_t(w);
  }
  synced_ = false;
}

void AtomicFile::pwrite(const void* data, size_t n, uint64_t offset) {
  if (fd_ < 0) throw Error(kind_, "write to a closed file").at_path(path_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, p, n > (size_t(1) << 30) ? (size_t(1) << 30) : n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
  synced_ = false;
}

bool AtomicFile::set_direct(bool on) {
  if (fd_ < 0) return false;
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) return false;
  int want = on ? flags | O_DIRECT : flags & ~O_DIRECT;
  if (want != flags && ::fcntl(fd_, F_SETFL, want) != 0) return false;
  direct_ = on;
  return true;
}

bool AtomicFile::reserve(uint64_t size) {
  if (fd_ < 0 || size == 0) return false;
  int err = ::posix_fallocate(fd_, 0, off_t(size));
  if (err == ENOSPC || err == EFBIG || err == EDQUOT)
    fail("not enough space for " + std::to_string(size) + " bytes", err);
  return err == 0;
}

void AtomicFile::truncate(uint64_t size) {
  if (fd_ < 0) throw Error(kind_, "truncate of a closed file").at_path(path_);
  if (::ftruncate(fd_, off_t(size)) != 0) fail("cannot set the file size", errno);
  synced_ = false;
}

void AtomicFile::sync() {
  if (fd_ < 0) throw Error(kind_, "sync of a closed file").at_path(path_);
  if (synced_) return;
  if (::fsync(fd_) != 0) fail("cannot write the file to disk", errno);
  synced_ = true;
}

void AtomicFile::commit(const std::string& final_path) {
  if (fd_ < 0) throw Error(kind_, "commit of a closed file").at_path(path_);
  sync();
  int rc = ::close(fd_);
  fd_ = -1;
  set_live(temp_, false);
  if (rc != 0) {
    int err = errno;
    ::unlink(temp_.c_str());
    fail("cannot finish writing", err);
  }
  if (!final_path.empty()) {
    if (dir_of(final_path) != dir_of(path_))
      throw Error(kind_, "an atomic output must be renamed within its directory").at_path(final_path);
    path_ = final_path;
  }
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_.c_str());
    fail("cannot move the finished file into place", err);
  }
  sync_directory(dir_of(path_), kind_);
}

void AtomicFile::abort() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  set_live(temp_, false);
  ::unlink(temp_.c_str());
}

}  // namespace tfforge::io
