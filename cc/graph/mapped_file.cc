#include "graph/mapped_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "error.h"

namespace tfforge::graph {

namespace {

// The SIGBUS guard's table of live mappings. The handler only does atomic loads and stores and
// calls mmap(2), so it is safe to run at any point of any thread.
constexpr int kSlots = 4096;
struct Slot {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<bool> damaged{false};
};
Slot g_slots[kSlots];
struct sigaction g_previous;
std::mutex g_install_mutex;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  for (Slot& s : g_slots) {
    uintptr_t b = s.begin.load(std::memory_order_acquire), e = s.end.load(std::memory_order_acquire);
    if (!b || addr < b || addr >= e) continue;
    // The file shrank under us: zero pages from the faulting page to the end of the mapping, so
    // the read completes; check() reports the damage.
    uintptr_t from = addr & ~(page - 1);
    void* p = ::mmap(reinterpret_cast<void*>(from), e - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != MAP_FAILED) {
      s.damaged.store(true, std::memory_order_release);
      return;
    }
  }
  // Not one of ours: hand it to whoever had SIGBUS before (Python's faulthandler, a sanitizer), or
  // die of it as the default action does.
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  } else {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGBUS, &dfl, nullptr);
    ::raise(SIGBUS);  // delivered when this handler returns; a fault re-executes and dies anyway
  }
}

// (Re)installs the handler when SIGBUS is not ours: something (faulthandler.enable()) may have
// replaced it since the last file was opened.
void install_guard() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  struct sigaction current {};
  ::sigaction(SIGBUS, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_sigbus) return;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  g_previous = current;
  ::sigaction(SIGBUS, &sa, nullptr);
}

int claim_slot(const uint8_t* data, size_t size) {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (g_slots[i].used.compare_exchange_strong(expected, true)) {
      g_slots[i].damaged.store(false);
      g_slots[i].end.store(uintptr_t(data) + size, std::memory_order_release);
      g_slots[i].begin.store(uintptr_t(data), std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void release_slot(int i) {
  g_slots[i].begin.store(0, std::memory_order_release);
  g_slots[i].end.store(0, std::memory_order_release);
  g_slots[i].used.store(false, std::memory_order_release);
}

int64_t ns_of(const struct timespec& t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

int64_t now_ns() {
  struct timespec t {};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return ns_of(t);
}

}  // namespace

bool settle(int fd, struct stat& st) {
  struct timespec res {};
  int64_t tick = ::clock_getres(CLOCK_REALTIME_COARSE, &res) == 0 ? ns_of(res) : 10000000;
  int64_t margin = 2 * std::max<int64_t>(tick, 1000000) + 1000000;
  // Whole-second times (FAT, some network file systems): the tick is the file system's, not the clock's.
  if (st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0) margin = 2000000000;
  const int64_t deadline = now_ns() + 2200000000;
  for (;;) {
    int64_t now = now_ns(), last = std::max(ns_of(st.st_mtim), ns_of(st.st_ctim));
    if (now - last >= margin) return true;
    if (last - now > 2000000000 || now >= deadline) return false;
    int64_t wait = std::min<int64_t>(margin - (now - last), deadline - now);
    struct timespec ts {time_t(wait / 1000000000), long(wait % 1000000000)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    if (::fstat(fd, &st) != 0) return false;
  }
}

bool same_file_state(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && ns_of(a.st_mtim) == ns_of(b.st_mtim) && ns_of(a.st_ctim) == ns_of(b.st_ctim);
}

bool settled_for_mapping(const struct stat& st) {
  const int64_t age = now_ns() - std::max(ns_of(st.st_mtim), ns_of(st.st_ctim));
  const bool whole_seconds = st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0;
  return age >= (whole_seconds ? int64_t(3000000000) : int64_t(100000000));
}

namespace {

bool immutable_file(int fd) {
  int flags = 0;
  return ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

[[noreturn]] void open_error(const std::string& path, const std::string& what, int fd) {
  int err = errno;
  if (fd >= 0) ::close(fd);
  throw Error("GraphError", what + std::strerror(err)).at_path(path);
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) open_error(path, "cannot open: ", -1);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  if (::fstat(fd, &f->stat_) != 0) open_error(path, "cannot stat: ", fd);
  if (!S_ISREG(f->stat_.st_mode)) {
    ::close(fd);
    throw Error("GraphError", "not a regular file").at_path(path);
  }
  f->fd_ = fd;  // closed by the destructor from here on
  bool settled = settle(fd, f->stat_);
  f->size_ = size_t(f->stat_.st_size);
  if (f->size_ == 0) return f;
  if (f->size_ >= kMapThreshold && settled) {
    install_guard();
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) throw Error("GraphError", std::string("cannot map: ") + std::strerror(errno)).at_path(path);
    f->slot_ = claim_slot(static_cast<const uint8_t*>(p), f->size_);
    if (f->slot_ >= 0) {
      f->data_ = static_cast<const uint8_t*>(p);
      f->immutable_ = immutable_file(fd);
      ::madvise(p, f->size_, MADV_SEQUENTIAL);
      return f;
    }
    ::munmap(p, f->size_);  // more live mappings than the guard tracks: read the file instead
  }
  f->read_all();
  return f;
}

void MappedFile::read_all() {
  void* mem = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw Error("GraphError", std::string("cannot allocate: ") + std::strerror(errno)).at_path(path_);
  data_ = static_cast<const uint8_t*>(mem);
  for (size_t done = 0; done < size_;) {
    ssize_t n = ::pread(fd_, static_cast<uint8_t*>(mem) + done, size_ - done, off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("GraphError", std::string("cannot read: ") + std::strerror(errno)).at_path(path_);
    if (n == 0) break;  // shrank: check() says so
    done += size_t(n);
  }
  check();  // a copy torn by a concurrent writer is refused now; after this it cannot change
  ::close(fd_);
  fd_ = -1;
}

MappedFile::~MappedFile() {
  if (slot_ >= 0) release_slot(slot_);  // first: the range may be reused as soon as it is unmapped
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

bool MappedFile::changed() const {
  if (slot_ >= 0 && g_slots[slot_].damaged.load(std::memory_order_acquire)) return true;
  struct stat now {};
  if (fd_ < 0 || ::fstat(fd_, &now) != 0) return false;  // a private copy in memory cannot change
  return !same_file_state(now, stat_);
}

void MappedFile::check() const {
  if (!changed()) return;
  struct stat now {};
  std::string what = "the file changed while tfforge was using it";
  if (fd_ >= 0 && ::fstat(fd_, &now) == 0 && now.st_size != stat_.st_size)
    what += " (" + std::to_string(stat_.st_size) + " bytes when opened, " + std::to_string(now.st_size) + " now)";
  else
    what += " (rewritten in place)";
  throw Error("GraphError", what + "; nothing is read or written from it any more, load it again").at_path(path_);
}

}  // namespace tfforge::graph
