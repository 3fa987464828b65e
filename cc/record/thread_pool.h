// Runs one function on several threads at once (the caller is one of them) and waits for all. Work is
// handed out inside the function (an atomic counter over chunks), so uneven chunks balance themselves.
#pragma once

#include <functional>
#include <stdexcept>

namespace tfforge::record {

// Thrown by long native work when its caller asked it to stop (e.g. Python has a KeyboardInterrupt).
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Number of hardware threads (at least 1).
int hardware_threads();

// Calls fn(worker_index) on `workers` threads including the calling one; rethrows the first exception
// any of them threw, after all have returned.
void run_parallel(int workers, const std::function<void(int)>& fn);

}  // namespace tfforge::record
