// CUDA runtime wrappers for code compiled without CUDA headers (see cuda_util.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda_util.h"

namespace tfforge::kernels::cuda_util {

bool device_available(std::string* name, double* peak_gbps) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return false;
  if (name) *name = prop.name;
  if (peak_gbps) {
    int mem_clock_khz = 0, bus_bits = 0;
    cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, 0);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
    *peak_gbps = 2.0 * mem_clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
  }
  return true;
}

void* alloc(size_t bytes) {
  void* p = nullptr;
  return cudaMalloc(&p, std::max<size_t>(bytes, 1)) == cudaSuccess ? p : nullptr;
}
void release(void* p) { cudaFree(p); }
bool to_device(void* dst, const void* src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess;
}
bool to_host(void* dst, const void* src, size_t bytes) {
  return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
}
bool synchronize() { return cudaDeviceSynchronize() == cudaSuccess; }
std::string error_string(int err) { return cudaGetErrorString(static_cast<cudaError_t>(err)); }

double time_ms(void (*fn)(void*), void* arg, int reps) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  fn(arg);  // warm-up
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(start);
    fn(arg);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float t = 0.0f;
    cudaEventElapsedTime(&t, start, stop);
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? 0.0 : ms[ms.size() / 2];
}

}  // namespace tfforge::kernels::cuda_util
