// Minimal CUDA runtime access for programs that must not include CUDA headers (the standalone kernel
// program): device query, memory, copies and timing. Implemented in cuda_util.cu.
#pragma once

#include <cstddef>
#include <string>

namespace tfforge::kernels::cuda_util {

bool device_available(std::string* name = nullptr, double* peak_gbps = nullptr);
void* alloc(size_t bytes);                      // nullptr on failure
void release(void* p);
bool to_device(void* dst, const void* src, size_t bytes);
bool to_host(void* dst, const void* src, size_t bytes);
bool synchronize();
std::string error_string(int err);

// Milliseconds per call of fn (which launches work on the default stream), median of `reps`.
double time_ms(void (*fn)(void*), void* arg, int reps);

}  // namespace tfforge::kernels::cuda_util
