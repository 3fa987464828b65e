#include "record/batch_pipeline.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace tfforge::record {

BatchPipeline::BatchPipeline(std::vector<std::string> paths, std::optional<Compression> compression,
                             ReaderOptions options, std::vector<FeatureSpec> spec, bool strict, int64_t batch_size,
                             int workers)
    : paths_(std::move(paths)),
      compression_(compression),
      options_(options),
      spec_(std::move(spec)),
      strict_(strict),
      batch_size_(std::max<int64_t>(batch_size, 1)) {
  options_.skip_corrupt = false;
  workers = std::max(workers, 1);
  ahead_ = size_t(workers + 2);  // each in flight holds a decoder and its columns: a few
  // The caller decodes too (in next()), so workers - 1 threads of our own.
  threads_.reserve(size_t(workers - 1));
  for (int i = 1; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

BatchPipeline::~BatchPipeline() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stop_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

bool BatchPipeline::read_job(Job* job) {
  job->chunk.clear();
  job->segments.clear();
  job->read_error = nullptr;
  try {
    while (int64_t(job->chunk.size()) < batch_size_) {
      if (!reader_) {
        if (file_ >= paths_.size()) return false;
        const std::string& path = paths_[file_];
        reader_ = std::make_unique<RecordReader>(path, compression_ ? *compression_ : detect_compression(path), options_);
        file_records_ = 0;
      }
      if (job->segments.empty() || job->segments.back().file != file_)
        job->segments.push_back({int64_t(job->chunk.size()), file_, file_records_});
      wire::Span s;
      if (!reader_->next(&s)) {
        reader_.reset();
        ++file_;
        continue;
      }
      if (job->chunk.arena.capacity() == 0)  // room for a batch of records like the first, not grown by doubling
        job->chunk.arena.reserve(size_t(batch_size_) * (s.size + s.size / 8 + 64));
      job->chunk.add(s, reader_->index(), reader_->offset());
      ++file_records_;
    }
  } catch (...) {
    job->read_error = std::current_exception();
    return false;
  }
  return true;
}

std::unique_ptr<ExampleDecoder> BatchPipeline::take_decoder() {
  std::vector<ExampleDecoder::ColumnSizes> sizes;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (!pool_.empty()) {
      auto dec = std::move(pool_.back());
      pool_.pop_back();
      return dec;
    }
    sizes = sizes_;
  }
  auto dec = std::make_unique<ExampleDecoder>(spec_, strict_);
  dec->reserve(sizes);
  return dec;
}

void BatchPipeline::recycle(std::unique_ptr<ExampleDecoder> dec) {
  dec->reset();
  std::lock_guard<std::mutex> lock(m_);
  pool_.push_back(std::move(dec));
}

bool BatchPipeline::work_one(Job& job, bool wait) {
  {
    std::unique_lock<std::mutex> lock(m_);
    auto room = [&] { return stop_ || reading_done_ || in_flight_ < ahead_; };
    if (wait) space_.wait(lock, room);
    if (!room() || stop_ || reading_done_) return false;
    ++in_flight_;
  }
  int64_t seq;
  {
    std::lock_guard<std::mutex> lock(read_m_);
    if (reading_done_) {
      std::lock_guard<std::mutex> lock2(m_);
      --in_flight_;
      space_.notify_all();
      return false;
    }
    seq = next_seq_++;
    if (!read_job(&job)) {
      std::lock_guard<std::mutex> lock2(m_);
      reading_done_ = true;
      last_seq_ = seq;
    }
  }
  space_.notify_all();  // workers waiting for room see that reading is done
  Done d;
  d.dec = take_decoder();
  try {
    size_t seg = 0;
    for (size_t i = 0; i < job.chunk.size(); ++i) {
      while (seg + 1 < job.segments.size() && job.segments[seg + 1].row <= int64_t(i)) ++seg;
      d.dec->decode(job.chunk.at(i), RecordContext{&paths_[job.segments[seg].file], job.chunk.index[i],
                                                    job.chunk.offset[i]});
    }
  } catch (...) {
    d.error = std::current_exception();  // the first bad record of the batch: it comes before any read error
  }
  if (!d.error) d.error = job.read_error;
  d.segments = std::move(job.segments);
  job.segments = {};
  {
    std::lock_guard<std::mutex> lock(m_);
    if (sizes_.empty() && d.dec->rows() == batch_size_) sizes_ = d.dec->sizes();
    done_.emplace(seq, std::move(d));
  }
  ready_.notify_all();
  return true;
}

void BatchPipeline::work() {
  Job job;  // its record buffer is reused from batch to batch
  while (work_one(job, true)) {
  }
}

bool BatchPipeline::next(Batch* out, int ms) {
  Done d;
  bool last;
  {
    std::unique_lock<std::mutex> lock(m_);
    if (finished_) {
      out->dec.reset();
      out->segments.clear();
      return true;
    }
    while (!done_.count(taken_)) {
      // Not decoded yet: decode a batch here rather than sleep (a thread woken on a busy machine can
      // wait milliseconds for a core, for every batch); wait only when there is nothing left to take on.
      lock.unlock();
      const bool worked = work_one(own_job_, false);
      lock.lock();
      if (!worked && !done_.count(taken_) &&
          !ready_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return done_.count(taken_) > 0; }))
        return false;
    }
    auto it = done_.find(taken_);
    d = std::move(it->second);
    done_.erase(it);
    last = taken_ == last_seq_;
    ++taken_;
    --in_flight_;
    finished_ = last || bool(d.error);
  }
  space_.notify_all();
  if (d.error) {
    recycle(std::move(d.dec));
    std::rethrow_exception(d.error);
  }
  if (d.dec->rows() == 0) {  // only the last batch can be empty
    recycle(std::move(d.dec));
    out->dec.reset();
    out->segments.clear();
    return true;
  }
  out->dec = std::move(d.dec);
  out->segments = std::move(d.segments);
  return true;
}

}  // namespace tfforge::record
