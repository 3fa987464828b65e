// Run-time CPU feature detection for the kernels' vector paths.
#include "kernels/cpu_avx2.h"

namespace tfforge::kernels::cpu {

bool has_avx2() {
#if TFFORGE_HAVE_AVX2_PATH
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }();
  return ok;
#else
  return false;
#endif
}

}  // namespace tfforge::kernels::cpu
