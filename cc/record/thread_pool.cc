#include "record/thread_pool.h"

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tfforge::record {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

void run_parallel(int workers, const std::function<void(int)>& fn) {
  if (workers <= 1) {
    fn(0);
    return;
  }
  std::exception_ptr first;
  std::mutex m;
  auto guarded = [&](int i) {
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!first) first = std::current_exception();
    }
  };
  // Threads are started per call: calls carry megabytes of work each, so start-up cost is noise, and
  // there is no pool to shut down when the interpreter exits.
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (int i = 1; i < workers; ++i) threads.emplace_back(guarded, i);
  guarded(0);
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace tfforge::record
