// Device-agnostic math kernels: plain functions over raw pointers and sizes, no TensorFlow includes.
// Each family declares its functions in <name>.h and implements them in <name>_cpu.cc and <name>.cu;
// this header only collects what is common to all of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace tfforge::kernels {

// Element types the kernels accept; float16/bfloat16 are stored as raw 16-bit patterns and
// accumulated in float32.
enum class DType { kFloat32, kFloat16, kBFloat16 };

inline size_t dtype_size(DType d) { return d == DType::kFloat32 ? 4 : 2; }
inline const char* dtype_name(DType d) {
  return d == DType::kFloat32 ? "float32" : d == DType::kFloat16 ? "float16" : "bfloat16";
}

// How CPU kernels run work over [0, n): the callee calls body(begin, end) on disjoint ranges covering
// [0, n), possibly from several threads at once. cost_per_unit (roughly cycles per unit) lets a
// thread pool decide how finely to split. TensorFlow's glue passes its intra-op pool here.
using RangeBody = std::function<void(int64_t begin, int64_t end)>;
using ParallelFor = std::function<void(int64_t n, int64_t cost_per_unit, const RangeBody& body)>;

inline void serial_for(int64_t n, int64_t /*cost_per_unit*/, const RangeBody& body) {
  if (n > 0) body(0, n);
}

// A [rows, cols] view of a tensor of any rank >= 1 normalized (or biased) over its last axis.
struct RowShape {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t size() const { return rows * cols; }
};

}  // namespace tfforge::kernels
