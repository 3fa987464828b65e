// tfforge_kernel_bench: checks and times the fused kernels without TensorFlow.
//
// For every kernel (LayerNorm, RMSNorm, bias+GELU; forward and backward) and dtype it
//   1. checks the CPU kernel against a double-precision reference on small, odd shapes;
//   2. when a CUDA device is present, checks the CUDA kernel against the CPU kernel;
//   3. times the kernel on the benchmark shapes (CUDA when present, else CPU on all cores) and
//      prints milliseconds and GB/s (bytes of the tensors read and written once).
// Exit status 1 when any check fails.
//
// usage: tfforge_kernel_bench [--check-only] [--verbose] [--shape ROWSxCOLS]... [--dtype float32|float16|bfloat16]...
//                             [--op layer_norm|rms_norm|bias_gelu]... [--reps N] [--threads N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/bias_gelu.h"
#include "kernels/cpu_types.h"
#include "kernels/layer_norm.h"
#include "kernels/rms_norm.h"
#ifdef TFFORGE_WITH_CUDA
#include "kernels/cuda_util.h"
#endif

namespace k = tfforge::kernels;
namespace cpu = tfforge::kernels::cpu;

namespace {

bool g_verbose = false;  // print every check, not only failures

// A host buffer of n elements of type dt (or float32 for per-row statistics).
struct Buf {
  k::DType dt = k::DType::kFloat32;
  int64_t n = 0;
  std::vector<uint8_t> bytes;
  Buf() = default;
  Buf(k::DType d, int64_t count) : dt(d), n(count), bytes(size_t(count) * k::dtype_size(d)) {}
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
  float get(int64_t i) const {
    return cpu::dispatch(dt, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      return cpu::to_float(static_cast<const T*>(static_cast<const void*>(bytes.data()))[i]);
    });
  }
  void set(int64_t i, float v) {
    cpu::dispatch(dt, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      static_cast<T*>(static_cast<void*>(bytes.data()))[i] = cpu::from_float<T>(v);
      return 0;
    });
  }
};

Buf random_buf(k::DType dt, int64_t n, uint32_t seed, float scale = 1.0f) {
  Buf b(dt, n);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  for (int64_t i = 0; i < n; ++i) b.set(i, dist(gen));
  return b;
}

k::ParallelFor thread_pool(int threads) {
  return [threads](int64_t n, int64_t, const k::RangeBody& body) {
    const int64_t parts = std::min<int64_t>(threads, n);
    if (parts <= 1) {
      if (n > 0) body(0, n);
      return;
    }
    std::vector<std::thread> pool;
    for (int64_t p = 0; p < parts; ++p)
      pool.emplace_back([&, p] { body(n * p / parts, n * (p + 1) / parts); });
    for (auto& t : pool) t.join();
  };
}

// One kernel in one direction: its inputs, how to run it on the CPU and GPU, and its exact answer.
struct Kernel {
  std::string name;
  // Fills inputs for shape (rows, cols) and dtype; returns the number of outputs' element counts.
  std::function<std::vector<Buf>(k::RowShape, k::DType)> make_inputs;
  std::function<std::vector<Buf>(k::RowShape, k::DType)> make_outputs;
  std::function<void(k::RowShape, k::DType, const std::vector<Buf>&, std::vector<Buf>&, const k::ParallelFor&)> run_cpu;
  // Double-precision reference: expected value of every output element.
  std::function<std::vector<std::vector<double>>(k::RowShape, const std::vector<Buf>&)> reference;
#ifdef TFFORGE_WITH_CUDA
  // Runs on device pointers; returns a cudaError_t.
  std::function<int(k::RowShape, k::DType, const std::vector<void*>& in, const std::vector<void*>& out, void* ws)> run_cuda;
  std::function<size_t(k::RowShape)> workspace;
#endif
  int64_t bytes_moved(k::RowShape s, k::DType dt) const { return tensors_moved * s.size() * int64_t(k::dtype_size(dt)); }
  int tensors_moved = 2;  // full-size tensors read + written
};

// ---- double references ----

void ln_stats(k::RowShape s, const Buf& x, int64_t r, double* mean, double* rstd, double eps) {
  double m = 0, v = 0;
  for (int64_t j = 0; j < s.cols; ++j) m += x.get(r * s.cols + j);
  m /= double(s.cols);
  for (int64_t j = 0; j < s.cols; ++j) v += (x.get(r * s.cols + j) - m) * (x.get(r * s.cols + j) - m);
  *mean = m;
  *rstd = 1.0 / std::sqrt(v / double(s.cols) + eps);
}

double rms_inv(k::RowShape s, const Buf& x, int64_t r, double eps) {
  double q = 0;
  for (int64_t j = 0; j < s.cols; ++j) q += double(x.get(r * s.cols + j)) * x.get(r * s.cols + j);
  return 1.0 / std::sqrt(q / double(s.cols) + eps);
}

double gelu(double z, bool approx) {
  if (approx) return 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
  return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
}
double gelu_slope(double z, bool approx) {
  if (approx) {
    const double c = std::sqrt(2 / M_PI), t = std::tanh(c * (z + 0.044715 * z * z * z));
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z);
  }
  return 0.5 * (1 + std::erf(z / std::sqrt(2.0))) + z * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
}

constexpr float kLnEps = 1e-3f, kRmsEps = 1e-6f;

std::vector<Kernel> all_kernels() {
  std::vector<Kernel> ks;
  const auto F32 = k::DType::kFloat32;
  {
    Kernel kn;
    kn.name = "layer_norm.fwd";
    kn.make_inputs = [](k::RowShape s, k::DType dt) {
      return std::vector<Buf>{random_buf(dt, s.size(), 1), random_buf(dt, s.cols, 2), random_buf(dt, s.cols, 3)};
    };
    kn.make_outputs = [=](k::RowShape s, k::DType dt) { return std::vector<Buf>{Buf(dt, s.size()), Buf(F32, s.rows), Buf(F32, s.rows)}; };
    kn.run_cpu = [](k::RowShape s, k::DType dt, const std::vector<Buf>& in, std::vector<Buf>& out, const k::ParallelFor& pf) {
      k::layer_norm_forward_cpu(dt, s, in[0].data(), in[1].data(), in[2].data(), kLnEps, out[0].data(),
                                static_cast<float*>(out[1].data()), static_cast<float*>(out[2].data()), pf);
    };
    kn.reference = [](k::RowShape s, const std::vector<Buf>& in) {
      std::vector<std::vector<double>> e{std::vector<double>(s.size()), std::vector<double>(s.rows), std::vector<double>(s.rows)};
      for (int64_t r = 0; r < s.rows; ++r) {
        double m, rs;
        ln_stats(s, in[0], r, &m, &rs, kLnEps);
        e[1][r] = m, e[2][r] = rs;
        for (int64_t j = 0; j < s.cols; ++j)
          e[0][r * s.cols + j] = (in[0].get(r * s.cols + j) - m) * rs * in[1].get(j) + in[2].get(j);
      }
      return e;
    };
#ifdef TFFORGE_WITH_CUDA
    kn.run_cuda = [](k::RowShape s, k::DType dt, const std::vector<void*>& in, const std::vector<void*>& out, void*) {
      return k::layer_norm_forward_cuda(dt, s, in[0], in[1], in[2], kLnEps, out[0], static_cast<float*>(out[1]),
                                        static_cast<float*>(out[2]), nullptr);
    };
    kn.workspace = [](k::RowShape) { return size_t(0); };
#endif
    ks.push_back(kn);
  }
  {
    Kernel kn;
    kn.name = "layer_norm.bwd";
    kn.tensors_moved = 3;
    kn.make_inputs = [=](k::RowShape s, k::DType dt) {
      std::vector<Buf> in{random_buf(dt, s.size(), 4), random_buf(dt, s.size(), 5), random_buf(dt, s.cols, 6),
                          Buf(F32, s.rows), Buf(F32, s.rows)};
      for (int64_t r = 0; r < s.rows; ++r) {
        double m, rs;
        ln_stats(s, in[1], r, &m, &rs, kLnEps);
        in[3].set(r, float(m));
        in[4].set(r, float(rs));
      }
      return in;
    };
    kn.make_outputs = [](k::RowShape s, k::DType dt) { return std::vector<Buf>{Buf(dt, s.size()), Buf(dt, s.cols), Buf(dt, s.cols)}; };
    kn.run_cpu = [](k::RowShape s, k::DType dt, const std::vector<Buf>& in, std::vector<Buf>& out, const k::ParallelFor& pf) {
      k::layer_norm_backward_cpu(dt, s, in[0].data(), in[1].data(), in[2].data(), static_cast<const float*>(in[3].data()),
                                 static_cast<const float*>(in[4].data()), out[0].data(), out[1].data(), out[2].data(), pf);
    };
    kn.reference = [](k::RowShape s, const std::vector<Buf>& in) {
      std::vector<std::vector<double>> e{std::vector<double>(s.size()), std::vector<double>(s.cols), std::vector<double>(s.cols)};
      for (int64_t r = 0; r < s.rows; ++r) {
        const double m = in[3].get(r), rs = in[4].get(r);
        double a = 0, c = 0;
        for (int64_t j = 0; j < s.cols; ++j) {
          const double d = in[0].get(r * s.cols + j), xh = (in[1].get(r * s.cols + j) - m) * rs, gd = d * in[2].get(j);
          a += gd, c += gd * xh;
          e[1][j] += d * xh, e[2][j] += d;
        }
        a /= double(s.cols), c /= double(s.cols);
        for (int64_t j = 0; j < s.cols; ++j) {
          const double xh = (in[1].get(r * s.cols + j) - m) * rs;
          e[0][r * s.cols + j] = rs * (in[0].get(r * s.cols + j) * in[2].get(j) - a - xh * c);
        }
      }
      return e;
    };
#ifdef TFFORGE_WITH_CUDA
    kn.run_cuda = [](k::RowShape s, k::DType dt, const std::vector<void*>& in, const std::vector<void*>& out, void* ws) {
      return k::layer_norm_backward_cuda(dt, s, in[0], in[1], in[2], static_cast<const float*>(in[3]),
                                         static_cast<const float*>(in[4]), out[0], out[1], out[2], ws, nullptr);
    };
    kn.workspace = [](k::RowShape s) { return k::layer_norm_backward_cuda_workspace_bytes(s); };
#endif
    ks.push_back(kn);
  }
  {
    Kernel kn;
    kn.name = "rms_norm.fwd";
    kn.make_inputs = [](k::RowShape s, k::DType dt) { return std::vector<Buf>{random_buf(dt, s.size(), 7), random_buf(dt, s.cols, 8)}; };
    kn.make_outputs = [](k::RowShape s, k::DType dt) { return std::vector<Buf>{Buf(dt, s.size())}; };
    kn.run_cpu = [](k::RowShape s, k::DType dt, const std::vector<Buf>& in, std::vector<Buf>& out, const k::ParallelFor& pf) {
      k::rms_norm_forward_cpu(dt, s, in[0].data(), in[1].data(), kRmsEps, out[0].data(), pf);
    };
    kn.reference = [](k::RowShape s, const std::vector<Buf>& in) {
      std::vector<std::vector<double>> e{std::vector<double>(s.size())};
      for (int64_t r = 0; r < s.rows; ++r) {
        const double ri = rms_inv(s, in[0], r, kRmsEps);
        for (int64_t j = 0; j < s.cols; ++j) e[0][r * s.cols + j] = in[0].get(r * s.cols + j) * ri * in[1].get(j);
      }
      return e;
    };
#ifdef TFFORGE_WITH_CUDA
    kn.run_cuda = [](k::RowShape s, k::DType dt, const std::vector<void*>& in, const std::vector<void*>& out, void*) {
      return k::rms_norm_forward_cuda(dt, s, in[0], in[1], kRmsEps, out[0], nullptr);
    };
    kn.workspace = [](k::RowShape) { return size_t(0); };
#endif
    ks.push_back(kn);
  }
  {
    Kernel kn;
    kn.name = "rms_norm.bwd";
    kn.tensors_moved = 3;
    kn.make_inputs = [](k::RowShape s, k::DType dt) {
      return std::vector<Buf>{random_buf(dt, s.size(), 9), random_buf(dt, s.size(), 10), random_buf(dt, s.cols, 11)};
    };
    kn.make_outputs = [](k::RowShape s, k::DType dt) { return std::vector<Buf>{Buf(dt, s.size()), Buf(dt, s.cols)}; };
    kn.run_cpu = [](k::RowShape s, k::DType dt, const std::vector<Buf>& in, std::vector<Buf>& out, const k::ParallelFor& pf) {
      k::rms_norm_backward_cpu(dt, s, in[0].data(), in[1].data(), in[2].data(), kRmsEps, out[0].data(), out[1].data(), pf);
    };
    kn.reference = [](k::RowShape s, const std::vector<Buf>& in) {
      std::vector<std::vector<double>> e{std::vector<double>(s.size()), std::vector<double>(s.cols)};
      for (int64_t r = 0; r < s.rows; ++r) {
        const double ri = rms_inv(s, in[1], r, kRmsEps);
        double c = 0;
        for (int64_t j = 0; j < s.cols; ++j) {
          const double d = in[0].get(r * s.cols + j), xh = in[1].get(r * s.cols + j) * ri;
          c += d * in[2].get(j) * xh;
          e[1][j] += d * xh;
        }
        c /= double(s.cols);
        for (int64_t j = 0; j < s.cols; ++j) {
          const double xh = in[1].get(r * s.cols + j) * ri;
          e[0][r * s.cols + j] = ri * (in[0].get(r * s.cols + j) * in[2].get(j) - xh * c);
        }
      }
      return e;
    };
#ifdef TFFORGE_WITH_CUDA
    kn.run_cuda = [](k::RowShape s, k::DType dt, const std::vector<void*>& in, const std::vector<void*>& out, void* ws) {
      return k::rms_norm_backward_cuda(dt, s, in[0], in[1], in[2], kRmsEps, out[0], out[1], ws, nullptr);
    };
    kn.workspace = [](k::RowShape s) { return k::rms_norm_backward_cuda_workspace_bytes(s); };
#endif
    ks.push_back(kn);
  }
  for (bool approx : {false, true}) {
    Kernel kn;
    kn.name = approx ? "bias_gelu_tanh.fwd" : "bias_gelu.fwd";
    kn.make_inputs = [](k::RowShape s, k::DType dt) {
      return std::vector<Buf>{random_buf(dt, s.size(), 12, 2.0f), random_buf(dt, s.cols, 13)};
    };
    kn.make_outputs = [](k::RowShape s, k::DType dt) { return std::vector<Buf>{Buf(dt, s.size())}; };
    kn.run_cpu = [approx](k::RowShape s, k::DType dt, const std::vector<Buf>& in, std::vector<Buf>& out, const k::ParallelFor& pf) {
      k::bias_gelu_forward_cpu(dt, s, in[0].data(), in[1].data(), approx, out[0].data(), pf);
    };
    kn.reference = [approx](k::RowShape s, const std::vector<Buf>& in) {
      std::vector<std::vector<double>> e{std::vector<double>(s.size())};
      for (int64_t i = 0; i < s.size(); ++i) e[0][i] = gelu(double(in[0].get(i)) + in[1].get(i % s.cols), approx);
      return e;
    };
#ifdef TFFORGE_WITH_CUDA
    kn.run_cuda = [approx](k::RowShape s, k::DType dt, const std::vector<void*>& in, const std::vector<void*>& out, void*) {
      return k::bias_gelu_forward_cuda(dt, s, in[0], in[1], approx, out[0], nullptr);
    };
    kn.workspace = [](k::RowShape) { return size_t(0); };
#endif
    ks.push_back(kn);

    Kernel bw;
    bw.name = approx ? "bias_gelu_tanh.bwd" : "bias_gelu.bwd";
    bw.tensors_moved = 3;
    bw.make_inputs = [](k::RowShape s, k::DType dt) {
      return std::vector<Buf>{random_buf(dt, s.size(), 14), random_buf(dt, s.size(), 15, 2.0f), random_buf(dt, s.cols, 16)};
    };
    bw.make_outputs = [](k::RowShape s, k::DType dt) { return std::vector<Buf>{Buf(dt, s.size()), Buf(dt, s.cols)}; };
    bw.run_cpu = [approx](k::RowShape s, k::DType dt, const std::vector<Buf>& in, std::vector<Buf>& out, const k::ParallelFor& pf) {
      k::bias_gelu_backward_cpu(dt, s, in[0].data(), in[1].data(), in[2].data(), approx, out[0].data(), out[1].data(), pf);
    };
    bw.reference = [approx](k::RowShape s, const std::vector<Buf>& in) {
      std::vector<std::vector<double>> e{std::vector<double>(s.size()), std::vector<double>(s.cols)};
      for (int64_t i = 0; i < s.size(); ++i) {
        const double dz = in[0].get(i) * gelu_slope(double(in[1].get(i)) + in[2].get(i % s.cols), approx);
        e[0][i] = dz;
        e[1][i % s.cols] += dz;
      }
      return e;
    };
#ifdef TFFORGE_WITH_CUDA
    bw.run_cuda = [approx](k::RowShape s, k::DType dt, const std::vector<void*>& in, const std::vector<void*>& out, void* ws) {
      return k::bias_gelu_backward_cuda(dt, s, in[0], in[1], in[2], approx, out[0], out[1], ws, nullptr);
    };
    bw.workspace = [](k::RowShape s) { return k::bias_gelu_backward_cuda_workspace_bytes(s); };
#endif
    ks.push_back(bw);
  }
  return ks;
}

// Relative tolerance per dtype: float32 arithmetic vs double, or the output's rounding for 16-bit.
double tolerance(k::DType dt) {
  return dt == k::DType::kFloat32 ? 2e-5 : dt == k::DType::kFloat16 ? 2e-3 : 1.6e-2;
}

// Max error of `got` vs `want`, scaled by the magnitude of the output (sums over rows grow).
double scaled_error(const Buf& got, const std::vector<double>& want) {
  double scale = 1.0, err = 0.0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (int64_t i = 0; i < got.n; ++i) {
    const double g = got.get(i), w = want[size_t(i)];
    if (std::isnan(w) != std::isnan(g)) return INFINITY;
    if (!std::isnan(w)) err = std::max(err, std::fabs(g - w) / scale);
  }
  return err;
}

bool check_cpu(const Kernel& kn, k::RowShape s, k::DType dt, const k::ParallelFor& pf) {
  const auto in = kn.make_inputs(s, dt);
  auto out = kn.make_outputs(s, dt);
  kn.run_cpu(s, dt, in, out, pf);
  const auto want = kn.reference(s, in);
  double worst = 0.0;
  for (size_t o = 0; o < out.size(); ++o) worst = std::max(worst, scaled_error(out[o], want[o]));
  const bool ok = worst <= tolerance(dt);
  if (ok && !g_verbose) return true;
  std::printf("check cpu  %-20s %-8s %6lldx%-6lld max scaled err %.2e  %s\n", kn.name.c_str(), k::dtype_name(dt),
              (long long)s.rows, (long long)s.cols, worst, ok ? "ok" : "FAIL");
  return ok;
}

#ifdef TFFORGE_WITH_CUDA
struct DeviceRun {
  std::vector<void*> in, out;
  void* ws = nullptr;
  ~DeviceRun() {
    for (void* p : in) k::cuda_util::release(p);
    for (void* p : out) k::cuda_util::release(p);
    if (ws) k::cuda_util::release(ws);
  }
};

bool upload(const std::vector<Buf>& in, const std::vector<Buf>& out, const Kernel& kn, k::RowShape s, DeviceRun* d) {
  for (const Buf& b : in) {
    d->in.push_back(k::cuda_util::alloc(b.bytes.size()));
    if (!d->in.back() || !k::cuda_util::to_device(d->in.back(), b.data(), b.bytes.size())) return false;
  }
  for (const Buf& b : out) {
    d->out.push_back(k::cuda_util::alloc(b.bytes.size()));
    if (!d->out.back()) return false;
  }
  d->ws = k::cuda_util::alloc(kn.workspace(s));
  return d->ws != nullptr;
}

bool check_gpu(const Kernel& kn, k::RowShape s, k::DType dt, const k::ParallelFor& pf) {
  const auto in = kn.make_inputs(s, dt);
  auto want = kn.make_outputs(s, dt), got = kn.make_outputs(s, dt);
  kn.run_cpu(s, dt, in, want, pf);
  DeviceRun d;
  int err = upload(in, got, kn, s, &d) ? kn.run_cuda(s, dt, d.in, d.out, d.ws) : -1;
  if (err == 0 && !k::cuda_util::synchronize()) err = -1;
  for (size_t o = 0; err == 0 && o < got.size(); ++o)
    if (!k::cuda_util::to_host(got[o].data(), d.out[o], got[o].bytes.size())) err = -1;
  double worst = err == 0 ? 0.0 : INFINITY;
  for (size_t o = 0; err == 0 && o < got.size(); ++o) {
    std::vector<double> w(size_t(want[o].n));
    for (int64_t i = 0; i < want[o].n; ++i) w[size_t(i)] = want[o].get(i);
    worst = std::max(worst, scaled_error(got[o], w));
  }
  // Both sides round to dtype, so allow two roundings.
  const bool ok = worst <= 2 * tolerance(dt);
  if (ok && !g_verbose) return true;
  std::printf("check cuda %-20s %-8s %6lldx%-6lld max scaled err vs cpu %.2e  %s%s\n", kn.name.c_str(),
              k::dtype_name(dt), (long long)s.rows, (long long)s.cols, worst, ok ? "ok" : "FAIL",
              err > 0 ? (" (" + k::cuda_util::error_string(err) + ")").c_str() : "");
  return ok;
}

struct GpuTimed {
  const Kernel* kn;
  k::RowShape s;
  k::DType dt;
  DeviceRun* d;
};
#endif

double median_ms(const std::function<void()>& fn, int reps) {
  fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

bool parse_shape(const char* s, k::RowShape* out) {
  long long r = 0, c = 0;
  if (std::sscanf(s, "%lldx%lld", &r, &c) != 2 || r < 0 || c < 0) return false;
  *out = {r, c};
  return true;
}

bool parse_dtype(const std::string& s, k::DType* out) {
  if (s == "float32") *out = k::DType::kFloat32;
  else if (s == "float16") *out = k::DType::kFloat16;
  else if (s == "bfloat16") *out = k::DType::kBFloat16;
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool check_only = false;
  int reps = 20, threads = int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<k::RowShape> shapes;
  std::vector<k::DType> dtypes;
  std::vector<std::string> ops;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    k::RowShape s;
    k::DType dt;
    if (a == "--check-only") check_only = true;
    else if (a == "--verbose") g_verbose = true;
    else if (a == "--shape" && v && parse_shape(v, &s)) shapes.push_back(s), ++i;
    else if (a == "--dtype" && v && parse_dtype(v, &dt)) dtypes.push_back(dt), ++i;
    else if (a == "--op" && v) ops.push_back(v), ++i;
    else if (a == "--reps" && v) reps = std::max(1, std::atoi(v)), ++i;
    else if (a == "--threads" && v) threads = std::max(1, std::atoi(v)), ++i;
    else {
      std::fprintf(stderr,
                   "usage: %s [--check-only] [--verbose] [--shape ROWSxCOLS]... [--dtype float32|float16|bfloat16]...\n"
                   "          [--op layer_norm|rms_norm|bias_gelu]... [--reps N] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  if (shapes.empty()) shapes = {{8192, 1024}, {4096, 4096}};
  if (dtypes.empty()) dtypes = {k::DType::kFloat32, k::DType::kFloat16, k::DType::kBFloat16};
  const k::ParallelFor pool = thread_pool(threads);
  auto selected = [&](const Kernel& kn) {
    if (ops.empty()) return true;
    for (const auto& o : ops)
      if (kn.name.rfind(o + ".", 0) == 0 || kn.name.rfind(o + "_", 0) == 0) return true;
    return false;
  };

  bool gpu = false;
#ifdef TFFORGE_WITH_CUDA
  std::string gpu_name;
  double peak = 0;
  gpu = k::cuda_util::device_available(&gpu_name, &peak);
  if (gpu) std::printf("device: %s (theoretical DRAM bandwidth %.0f GB/s)\n", gpu_name.c_str(), peak);
  else std::printf("device: no CUDA device; CPU checks and timings only\n");
#else
  std::printf("device: built without CUDA; CPU checks and timings only\n");
#endif
  std::printf("cpu threads: %d\n", threads);

  // Odd shapes exercise vector tails, packed vs scalar CUDA paths, warp vs block rows, empty tensors.
  const std::vector<k::RowShape> check_shapes = {{1, 1}, {3, 7}, {5, 8}, {17, 100}, {64, 1024}, {3, 1031}, {2, 4100}, {2, 9000}, {0, 16}, {4, 0}};
  bool ok = true;
  int checks = 0, failed = 0;
  auto count = [&](bool passed) { ++checks, failed += !passed, ok &= passed; };
  for (const Kernel& kn : all_kernels()) {
    if (!selected(kn)) continue;
    for (k::DType dt : dtypes)
      for (k::RowShape s : check_shapes) {
        count(check_cpu(kn, s, dt, pool));
#ifdef TFFORGE_WITH_CUDA
        if (gpu) count(check_gpu(kn, s, dt, pool));
#endif
      }
  }
  std::printf("checks: %d run, %d failed (%s)\n", checks, failed,
              gpu ? "cpu vs double reference, cuda vs cpu" : "cpu vs double reference");
  if (check_only) {
    std::printf("%s\n", ok ? "all checks passed" : "CHECKS FAILED");
    return ok ? 0 : 1;
  }

  std::printf("\n%-20s %-8s %-12s %-5s %10s %10s\n", "kernel", "dtype", "shape", "where", "ms", "GB/s");
  if (!gpu) {
    // The roofline on this machine: memcpy of the first shape's float32 tensor on all threads.
    const k::RowShape s = shapes.front();
    std::vector<float> src(size_t(s.size()), 1.0f), dst(size_t(s.size()));
    const double ms = median_ms([&] {
      pool(s.rows, s.cols, [&](int64_t b, int64_t e) {
        std::memcpy(dst.data() + b * s.cols, src.data() + b * s.cols, size_t((e - b) * s.cols) * sizeof(float));
      });
    }, reps);
    std::printf("%-20s %-8s %lldx%-7lld %-5s %10.3f %10.1f\n", "memcpy (roofline)", "float32", (long long)s.rows,
                (long long)s.cols, "cpu", ms, ms > 0 ? 2.0 * double(s.size()) * 4 / (ms * 1e6) : 0.0);
  }
  for (const Kernel& kn : all_kernels()) {
    if (!selected(kn)) continue;
    for (k::DType dt : dtypes)
      for (k::RowShape s : shapes) {
        const auto in = kn.make_inputs(s, dt);
        auto out = kn.make_outputs(s, dt);
        double ms = 0;
        const char* where = "cpu";
#ifdef TFFORGE_WITH_CUDA
        DeviceRun d;
        if (gpu && upload(in, out, kn, s, &d)) {
          where = "cuda";
          GpuTimed t{&kn, s, dt, &d};
          ms = k::cuda_util::time_ms(
              [](void* p) {
                auto* t = static_cast<GpuTimed*>(p);
                t->kn->run_cuda(t->s, t->dt, t->d->in, t->d->out, t->d->ws);
              },
              &t, reps);
        }
#endif
        if (!gpu) ms = median_ms([&] { kn.run_cpu(s, dt, in, out, pool); }, reps);
        const double gbps = ms > 0 ? double(kn.bytes_moved(s, dt)) / (ms * 1e6) : 0.0;
        char shape[32];
        std::snprintf(shape, sizeof(shape), "%lldx%lld", (long long)s.rows, (long long)s.cols);
        std::printf("%-20s %-8s %-12s %-5s %10.3f %10.1f\n", kn.name.c_str(), k::dtype_name(dt), shape, where, ms, gbps);
      }
  }
  std::printf("%s\n", ok ? "all checks passed" : "CHECKS FAILED");
  return ok ? 0 : 1;
}
