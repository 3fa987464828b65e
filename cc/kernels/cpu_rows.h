// Row scheduling shared by the CPU kernels: rows go to the caller's ParallelFor; backward passes that
// also sum over rows (dgamma, dbeta, dbias) accumulate per fixed block of rows and add the blocks
// afterwards. Blocks depend only on the shape, never on the thread count, so results are
// deterministic run to run.
#pragma once

#include <algorithm>
#include <vector>

#include "kernels.h"  // relative: also resolves in the installed include/tfforge/kernels/

namespace tfforge::kernels::cpu {

// Calls row_fn(row) for every row in [0, rows).
template <class RowFn>
void for_each_row(int64_t rows, int64_t cost_per_row, const ParallelFor& parallel, RowFn row_fn) {
  parallel(rows, cost_per_row, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) row_fn(r);
  });
}

// Calls row_fn(row, partial) for every row, partial being `width` floats (zeroed per block) the row
// adds its column contributions to; returns the column sums over all rows.
template <class RowFn>
std::vector<float> for_each_row_summing_columns(int64_t rows, int64_t width, int64_t cost_per_row,
                                                const ParallelFor& parallel, RowFn row_fn) {
  std::vector<float> sums(static_cast<size_t>(width), 0.0f);
  if (rows <= 0 || width <= 0) return sums;
  constexpr int64_t kMaxBlocks = 32;
  constexpr int64_t kMaxPartialBytes = int64_t(64) << 20;
  const int64_t by_memory = std::max<int64_t>(1, kMaxPartialBytes / (width * int64_t(sizeof(float))));
  const int64_t blocks = std::min({rows, kMaxBlocks, by_memory});
  const int64_t rows_per_block = (rows + blocks - 1) / blocks;
  std::vector<float> partial(static_cast<size_t>(blocks * width));
  parallel(blocks, cost_per_row * rows_per_block, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      float* p = partial.data() + b * width;
      std::fill(p, p + width, 0.0f);
      const int64_t stop = std::min(rows, (b + 1) * rows_per_block);
      for (int64_t r = b * rows_per_block; r < stop; ++r) row_fn(r, p);
    }
  });
  for (int64_t b = 0; b < blocks; ++b) {
    const float* p = partial.data() + b * width;
    for (int64_t j = 0; j < width; ++j) sums[j] += p[j];
  }
  return sums;
}

}  // namespace tfforge::kernels::cpu
