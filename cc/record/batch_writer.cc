#include "record/batch_writer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include "error.h"
#include "record/example_encoder.h"
#include "record/framing.h"
#include "record/thread_pool.h"

namespace tfforge::record {
namespace {

constexpr size_t kChunkBytes = 4 << 20;       // target encoded size of one chunk
constexpr size_t kParallelMinBytes = 1 << 20;  // below this, threads cost more than they save

struct Chunk {
  size_t target;
  int64_t seq;  // position among the target's chunks
  int64_t begin, end;
};

// Average encoded size of a row, estimated from a sample of rows spread over [begin, end).
double average_row_bytes(const ExampleEncoder& enc, int64_t begin, int64_t end) {
  int64_t n = end - begin;
  if (n <= 0) return 0;
  int64_t samples = std::min<int64_t>(n, 64), step = n / samples;
  size_t total = 0;
  for (int64_t i = 0; i < samples; ++i)
    total += enc.record_size(begin + i * step, enc.features_size(begin + i * step)) + kFramingOverhead;
  return double(total) / double(samples);
}

int resolve_workers(int workers) { return workers > 0 ? workers : hardware_threads(); }

// Workers worth using for rows [begin, end): one when the work is too small to split.
int split_workers(const ExampleEncoder& enc, int64_t begin, int64_t end, int workers) {
  workers = resolve_workers(workers);
  if (average_row_bytes(enc, begin, end) * double(end - begin) < double(kParallelMinBytes)) return 1;
  return int(std::min<int64_t>(workers, std::max<int64_t>(end - begin, 1)));
}

// Chunk buffers outlive calls: fresh pages cost a page fault each (expensive on VMs), so buffers are
// kept in a small pool and reused by the next batch instead of going back to the system.
class BufferPool {
 public:
  struct Buffer {
    std::unique_ptr<uint8_t[]> data;
    size_t cap = 0;
  };
  static BufferPool& shared() {
    static BufferPool* pool = new BufferPool();  // leaked on purpose: no destruction-order issues at exit
    return *pool;
  }
  Buffer acquire() {
    std::lock_guard<std::mutex> lock(m_);
    if (free_.empty()) return Buffer();
    Buffer b = std::move(free_.back());
    free_.pop_back();
    pooled_bytes_ -= b.cap;
    return b;
  }
  void release(Buffer b) {
    std::lock_guard<std::mutex> lock(m_);
    if (pooled_bytes_ + b.cap <= kMaxPooledBytes) {  // beyond the budget, memory goes back to the system
      pooled_bytes_ += b.cap;
      free_.push_back(std::move(b));
    }
  }

 private:
  static constexpr size_t kMaxPooledBytes = size_t(256) << 20;
  std::mutex m_;
  std::vector<Buffer> free_;
  size_t pooled_bytes_ = 0;
};

// Encodes rows [begin, end) as framed records into buf (grown as needed); returns the byte count.
size_t encode_chunk(const ExampleEncoder& enc, int64_t begin, int64_t end, std::vector<size_t>& sizes,
                    BufferPool::Buffer& buf) {
  sizes.resize(size_t(end - begin));
  size_t total = 0;
  for (int64_t r = begin; r < end; ++r) {
    sizes[size_t(r - begin)] = enc.features_size(r);
    total += enc.record_size(r, sizes[size_t(r - begin)]) + kFramingOverhead;
  }
  if (total > buf.cap) {
    buf.cap = std::max(total, buf.cap + buf.cap / 2);
    buf.data.reset(new uint8_t[buf.cap]);
  }
  uint8_t* out = buf.data.get();
  for (int64_t r = begin; r < end; ++r) out = enc.encode_framed(r, sizes[size_t(r - begin)], out);
  return total;
}

}  // namespace

void write_batch(const Batch& batch, const std::vector<WriteTarget>& targets, int workers,
                 const std::function<bool()>& interrupted) {
  ExampleEncoder enc(batch);
  workers = resolve_workers(workers);
  // Cut each target's rows into chunks, then order them round-robin over targets.
  std::vector<std::vector<Chunk>> per_target(targets.size());
  size_t max_chunks = 0;
  double total_bytes = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    const WriteTarget& tg = targets[t];
    if (tg.begin < 0 || tg.end > batch.rows || tg.begin > tg.end)
      throw Error("SpecError", "row range out of bounds");
    double avg = average_row_bytes(enc, tg.begin, tg.end);
    total_bytes += avg * double(tg.end - tg.begin);
    int64_t rows_per_chunk = std::max<int64_t>(1, int64_t(double(kChunkBytes) / std::max(avg, 1.0)));
    int64_t seq = 0;
    for (int64_t b = tg.begin; b < tg.end; b += rows_per_chunk)
      per_target[t].push_back({t, seq++, b, std::min(tg.end, b + rows_per_chunk)});
    max_chunks = std::max(max_chunks, per_target[t].size());
  }
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < max_chunks; ++i)
    for (auto& pt : per_target)
      if (i < pt.size()) chunks.push_back(pt[i]);
  if (chunks.empty()) return;
  if (total_bytes < double(kParallelMinBytes)) workers = 1;
  workers = int(std::min<size_t>(size_t(workers), chunks.size()));

  // Threads claim chunks in order and encode them into pooled buffers. A finished chunk is handed to
  // its target's lane; whichever thread finds the lane idle writes every chunk that is next in sequence,
  // so nobody waits for a turn and encoding runs ahead of a slow write. At most `limit` chunks are
  // claimed but unwritten (bounded memory); the chunk a lane needs next is always claimed before any
  // later one, so it is being encoded by a thread that does not wait: no deadlock.
  struct Pending {
    BufferPool::Buffer buf;
    size_t bytes = 0;
    uint64_t records = 0;
  };
  struct Lane {
    std::mutex m;
    std::map<int64_t, Pending> pending;
    int64_t next = 0;
    bool writing = false;
  };
  std::vector<Lane> lanes(targets.size());
  const int limit = 2 * workers;
  int in_flight = 0;
  std::mutex flight_m;
  std::condition_variable flight_cv;
  size_t next_chunk = 0;
  std::atomic<bool> failed{false};
  auto finish_one = [&] {
    std::lock_guard<std::mutex> lock(flight_m);
    --in_flight;
    flight_cv.notify_all();
  };
  run_parallel(workers, [&](int worker) {
    std::vector<size_t> sizes;
    try {
      for (;;) {
        if (worker == 0 && interrupted && interrupted()) throw Interrupted();
        size_t i;
        {
          std::unique_lock<std::mutex> lock(flight_m);
          flight_cv.wait(lock, [&] { return in_flight < limit || failed.load(); });
          if (failed.load() || next_chunk >= chunks.size()) return;
          i = next_chunk++;
          ++in_flight;
        }
        const Chunk& c = chunks[i];
        Pending p;
        p.buf = BufferPool::shared().acquire();
        p.bytes = encode_chunk(enc, c.begin, c.end, sizes, p.buf);
        p.records = uint64_t(c.end - c.begin);
        Lane& lane = lanes[c.target];
        std::unique_lock<std::mutex> lock(lane.m);
        lane.pending.emplace(c.seq, std::move(p));
        if (lane.writing) continue;  // the lane's current writer will take it
        lane.writing = true;
        for (auto it = lane.pending.find(lane.next); it != lane.pending.end(); it = lane.pending.find(lane.next)) {
          Pending w = std::move(it->second);
          lane.pending.erase(it);
          lock.unlock();
          try {
            targets[c.target].file->write_framed(w.buf.data.get(), w.bytes, w.records);
          } catch (...) {
            lock.lock();
            lane.writing = false;
            throw;
          }
          BufferPool::shared().release(std::move(w.buf));
          finish_one();
          lock.lock();
          ++lane.next;
        }
        lane.writing = false;
      }
    } catch (...) {
      failed.store(true);
      std::lock_guard<std::mutex> lock(flight_m);
      flight_cv.notify_all();
      throw;
    }
  });
}

Encoded encode_rows(const Batch& batch, int64_t begin, int64_t end, bool framed, int workers) {
  Encoded out;
  out.offsets = size_rows(batch, begin, end, framed, workers);
  out.size = size_t(out.offsets.back());
  out.data.reset(new uint8_t[std::max<size_t>(out.size, 1)]);
  encode_rows_into(batch, begin, end, framed, workers, out.offsets, out.data.get());
  return out;
}

std::vector<int64_t> size_rows(const Batch& batch, int64_t begin, int64_t end, bool framed, int workers) {
  ExampleEncoder enc(batch);
  if (begin < 0 || end > batch.rows || begin > end) throw Error("SpecError", "row range out of bounds");
  int64_t n = end - begin;
  std::vector<int64_t> offsets(size_t(n) + 1, 0);
  size_t overhead = framed ? kFramingOverhead : 0;
  workers = split_workers(enc, begin, end, workers);
  run_parallel(workers, [&](int w) {
    for (int64_t r = begin + n * w / workers, e = begin + n * (w + 1) / workers; r < e; ++r)
      offsets[size_t(r - begin) + 1] = int64_t(enc.record_size(r, enc.features_size(r)) + overhead);
  });
  for (int64_t i = 0; i < n; ++i) offsets[size_t(i) + 1] += offsets[size_t(i)];
  return offsets;
}

void encode_rows_into(const Batch& batch, int64_t begin, int64_t end, bool framed, int workers,
                      const std::vector<int64_t>& offsets, uint8_t* out) {
  ExampleEncoder enc(batch);
  int64_t n = end - begin;
  workers = split_workers(enc, begin, end, workers);
  run_parallel(workers, [&](int w) {
    for (int64_t r = begin + n * w / workers, e = begin + n * (w + 1) / workers; r < e; ++r) {
      uint8_t* p = out + offsets[size_t(r - begin)];
      size_t features = enc.features_size(r);  // recomputed: cheaper than keeping a per-row array
      if (framed)
        enc.encode_framed(r, features, p);
      else
        enc.encode(r, features, p);
    }
  });
}

}  // namespace tfforge::record
