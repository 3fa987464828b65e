#include "record/batch_pipeline.h"

#include <unistd.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <utility>

#include "error.h"
#include "record/crc32c.h"
#include "record/framing.h"

namespace tfforge::record {

BatchPipeline::BatchPipeline(std::vector<std::string> paths, std::optional<Compression> compression,
                             ReaderOptions options, std::vector<FeatureSpec> spec, bool strict, int64_t batch_size,
                             int workers, bool borrow_bytes)
    : paths_(std::move(paths)),
      compression_(compression),
      options_(options),
      spec_(std::move(spec)),
      strict_(strict),
      borrow_(borrow_bytes),
      batch_size_(std::max<int64_t>(batch_size, 1)) {
  options_.skip_corrupt = false;
  workers = std::max(workers, 1);
  ahead_ = size_t(workers + 2);  // each in flight holds a decoder and its columns (and records): a few MB
  // The caller decodes too (in next()), so workers - 1 threads of our own.
  threads_.reserve(size_t(workers - 1));
  for (int i = 1; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

BatchPipeline::~BatchPipeline() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stop_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
  if (fd_ >= 0) ::close(fd_);
}

void pipeline::Bytes::grow_to(size_t n) {
  if (n <= cap) return;
  size_t c = std::max(n, cap + cap / 2);
  std::unique_ptr<uint8_t[]> d(new uint8_t[c]);
  if (size) std::memcpy(d.get(), data.get(), size);
  data = std::move(d);
  cap = c;
}

void BatchPipeline::replay(size_t file, int64_t record) const {
  RecordReader r(paths_[file], Compression::kNone, options_);
  wire::Span s;
  for (int64_t i = 0; i <= record && r.next(&s); ++i) {
  }
  throw ::tfforge::Error("CorruptRecordError", "the file changed while it was read")
      .at_path(paths_[file]).at_record(record);
}

bool BatchPipeline::fill_raw(Job* job, size_t parsed, size_t n) {
  pipeline::Bytes& b = job->raw;
  while (b.size - parsed < n) {
    // Read what is missing, and ahead about the rest of the batch (by the size of a record seen).
    const size_t want = n - (b.size - parsed);
    const size_t left = size_t(batch_size_ - int64_t(job->size()));
    size_t ahead = std::min<size_t>(record_hint_ * left, size_t(256) << 10);
    size_t get = std::max({want, ahead, size_t(64) << 10});
    get = size_t(std::min<uint64_t>(get, std::max<uint64_t>(file_size_ - std::min(file_read_, file_size_), want)));
    b.grow_to(b.size + get);
    ssize_t got;
    do {
      got = ::pread(fd_, b.data.get() + b.size, get, off_t(file_read_));
    } while (got < 0 && errno == EINTR);
    if (got < 0)
      throw ::tfforge::Error("OutputError", std::string("cannot read: ") + std::strerror(errno)).at_path(paths_[file_]);
    if (got == 0) return false;
    b.size += size_t(got);
    file_read_ += uint64_t(got);
  }
  return true;
}

bool BatchPipeline::read_raw_record(Job* job, size_t* parsed) {
  const uint64_t off = file_parsed_;
  if (!fill_raw(job, *parsed, kHeaderSize)) {
    if (job->raw.size == *parsed) return false;  // the file ends between records
    replay(file_, file_records_);
  }
  const uint8_t* h = job->raw.data.get() + *parsed;
  uint64_t len;
  std::memcpy(&len, h, 8);
  if (!header_ok(h) || off + kFramingOverhead + len > file_size_ ||
      len > options_.max_record || !fill_raw(job, *parsed, kFramingOverhead + size_t(len)))
    replay(file_, file_records_);
  const uint8_t* d = job->raw.data.get() + *parsed + kHeaderSize;
  uint32_t stored;
  std::memcpy(&stored, d + len, 4);
  job->recs.push_back({true, *parsed + kHeaderSize, size_t(len), stored});
  job->index.push_back(file_records_);
  job->offset.push_back(off);
  *parsed += kFramingOverhead + size_t(len);
  file_parsed_ += kFramingOverhead + len;
  record_hint_ = size_t(len) + kFramingOverhead;
  return true;
}

bool BatchPipeline::read_mapped_record(Job* job) {
  const wire::Span file = map_->span();
  const uint64_t off = map_parsed_;
  if (off == file.size) return false;
  if (file.size - off < kHeaderSize) replay(file_, file_records_);
  const uint8_t* h = file.data + off;
  uint64_t len;
  std::memcpy(&len, h, 8);
  const uint64_t left = file.size - off;
  if (!header_ok(h) || len > options_.max_record || len > left ||
      left - len < kFramingOverhead)
    replay(file_, file_records_);
  // Records of one file are mostly of one size: ask for the header a few records ahead (and the footer
  // before it) now, so reading it then does not wait for memory. A wrong guess costs nothing.
  const uint64_t step = kFramingOverhead + len;
  if (left / 5 > step) __builtin_prefetch(h + 4 * step);
  uint32_t stored;
  std::memcpy(&stored, h + kHeaderSize + len, 4);
  job->recs.push_back({true, 0, size_t(len), stored, h + kHeaderSize});
  job->index.push_back(file_records_);
  job->offset.push_back(off);
  map_parsed_ += kFramingOverhead + len;
  return true;
}

bool BatchPipeline::read_job(Job* job) {
  job->copied.clear();
  job->raw.size = 0;
  job->recs.clear();
  job->index.clear();
  job->offset.clear();
  job->segments.clear();
  job->maps.clear();
  job->read_error = nullptr;
  try {
    while (int64_t(job->size()) < batch_size_) {
      if (!reader_ && fd_ < 0 && !map_) {
        if (file_ >= paths_.size()) return false;
        const std::string& path = paths_[file_];
        const Compression c = compression_ ? *compression_ : detect_compression(path);
        if (c == Compression::kNone) {
          fd_ = open_regular_file(path);
          struct stat st;
          file_size_ = ::fstat(fd_, &st) == 0 ? uint64_t(st.st_size) : 0;
          file_read_ = file_parsed_ = 0;
          carry_.size = 0;
          if (borrow_ && file_size_ >= graph::MappedFile::kMapThreshold && graph::settled_for_mapping(st)) {
            // Records decoded and handed out straight from the page cache, without a copy. A file
            // truncated while mapped reads as zeros past its end (MappedFile's guard), so its records
            // fail their CRCs and replay() raises what the reader raises; a file changed otherwise is
            // refused when its batch is decoded.
            try {
              map_ = graph::MappedFile::open(path);
            } catch (const ::tfforge::Error&) {
              map_.reset();  // read it instead
            }
            if (map_) {
              map_parsed_ = 0;
              ::close(fd_);
              fd_ = -1;
            }
          }
        } else {
          reader_ = std::make_unique<RecordReader>(path, c, options_);
        }
        file_records_ = 0;
      }
      if (job->segments.empty() || job->segments.back().file != file_) {
        job->segments.push_back({int64_t(job->size()), file_, file_records_});
        if (map_) job->maps.push_back(map_);
      }
      if (map_) {
        bool more = true;
        while (int64_t(job->size()) < batch_size_ && (more = read_mapped_record(job))) ++file_records_;
        if (!more) {
          map_.reset();
          ++file_;
        }
        continue;
      }
      if (fd_ >= 0) {
        // Bytes read ahead by the last job first, then records straight from the file.
        size_t parsed = job->raw.size;
        job->raw.grow_to(job->raw.size + carry_.size);
        if (carry_.size) std::memcpy(job->raw.data.get() + job->raw.size, carry_.data.get(), carry_.size);
        job->raw.size += carry_.size;
        carry_.size = 0;
        bool more = true;
        while (int64_t(job->size()) < batch_size_ && (more = read_raw_record(job, &parsed))) ++file_records_;
        const size_t extra = job->raw.size - parsed;  // read ahead: the next job's
        carry_.grow_to(extra);
        if (extra) std::memcpy(carry_.data.get(), job->raw.data.get() + parsed, extra);
        carry_.size = extra;
        job->raw.size = parsed;
        if (!more) {
          ::close(fd_);
          fd_ = -1;
          ++file_;
        }
        continue;
      }
      wire::Span s;
      if (!reader_->next(&s)) {
        reader_.reset();
        ++file_;
        continue;
      }
      if (job->copied.capacity() == 0)  // room for a batch of records like the first, not grown by doubling
        job->copied.reserve(size_t(batch_size_) * (s.size + s.size / 8 + 64));
      job->recs.push_back({false, job->copied.size(), s.size, 0});
      job->copied.insert(job->copied.end(), s.data, s.data + s.size);
      job->index.push_back(reader_->index());
      job->offset.push_back(reader_->offset());
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
  dec->borrow_bytes(borrow_);
  dec->reserve(sizes);
  return dec;
}

std::unique_ptr<BatchPipeline::Job> BatchPipeline::take_job() {
  std::lock_guard<std::mutex> lock(m_);
  if (jobs_.empty()) return std::make_unique<Job>();
  auto job = std::move(jobs_.back());
  jobs_.pop_back();
  return job;
}

void BatchPipeline::check_unchanged(const Job* records) {
  if (!records) return;
  for (const auto& map : records->maps)
    if (map->changed())
      throw ::tfforge::Error("CorruptRecordError", "the file changed while it was read").at_path(map->path());
}

void BatchPipeline::release_pages(const Job& job) {
  // The records of a job lie in one stretch of each file they come from: give back the pages wholly
  // inside [its first record, its last record's end). The page holding that end may hold the next
  // batch's first record and stays. Dropping pages of a private file mapping only unmaps them (a later
  // read would map the file's bytes again), so nothing can read wrong bytes; and the unmapping, which
  // costs about as much as mapping them, is spread over the read instead of all done at its end.
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  for (const auto& map : job.maps) {
    if (map->stable()) continue;  // a private copy (or immutable): kept whole until the end
    const wire::Span file = map->span();
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (const pipeline::Rec& r : job.recs)
      if (r.mapped >= file.data && r.mapped < file.data + file.size) {
        lo = std::min(lo, reinterpret_cast<uintptr_t>(r.mapped) - kHeaderSize);
        hi = std::max(hi, reinterpret_cast<uintptr_t>(r.mapped) + r.size + kFooterSize);
      }
    lo &= ~(page - 1);
    hi &= ~(page - 1);
    if (lo < hi) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
}

void BatchPipeline::recycle(std::unique_ptr<ExampleDecoder> dec, std::unique_ptr<Job> records) {
  if (records) release_pages(*records);
  if (dec) dec->reset();
  std::lock_guard<std::mutex> lock(m_);
  if (dec) pool_.push_back(std::move(dec));
  if (records) jobs_.push_back(std::move(records));
}

void BatchPipeline::read_one() {
  auto job = take_job();
  const int64_t seq = next_seq_++;
  const bool more = read_job(job.get());
  {
    std::lock_guard<std::mutex> lock(m_);
    reading_ = false;
    if (!more) {
      reading_done_ = true;
      last_seq_ = seq;
    }
    pending_.emplace_back(seq, std::move(job));
  }
  changed_.notify_all();
}

void BatchPipeline::decode_one(int64_t seq, std::unique_ptr<Job> job) {
  Done d;
  d.dec = take_decoder();
  try {
    size_t seg = 0;
    for (size_t i = 0; i < job->size(); ++i) {
      while (seg + 1 < job->segments.size() && job->segments[seg + 1].row <= int64_t(i)) ++seg;
      const pipeline::Rec& r = job->recs[i];
      const uint8_t* data = r.mapped ? r.mapped : (r.raw ? job->raw.data.get() : job->copied.data()) + r.start;
      if (r.raw && options_.verify && crc32c::mask(crc32c::value(data, r.size)) != r.crc)
        replay(job->segments[seg].file, job->index[i]);  // bad data CRC: raised as the reader raises it
      d.dec->decode(wire::Span{data, r.size},
                    RecordContext{&paths_[job->segments[seg].file], job->index[i], job->offset[i]});
    }
  } catch (...) {
    d.error = std::current_exception();  // the first bad record of the batch: it comes before any read error
  }
  if (!d.error) {
    try {
      check_unchanged(job.get());  // changed under us: its bytes cannot be trusted
    } catch (...) {
      d.error = std::current_exception();
    }
  }
  if (!d.error) d.error = job->read_error;
  d.segments = std::move(job->segments);
  job->segments = {};
  if (borrow_) d.records = std::move(job);  // the columns point into it
  {
    std::lock_guard<std::mutex> lock(m_);
    if (sizes_.empty() && d.dec->rows() == batch_size_) sizes_ = d.dec->sizes();
    done_.emplace(seq, std::move(d));
    if (job) jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
}

bool BatchPipeline::can_read() const { return !stop_ && !reading_done_ && !reading_ && in_flight_ < ahead_; }

void BatchPipeline::work() {
  for (;;) {
    std::pair<int64_t, std::unique_ptr<Job>> todo;
    {
      std::unique_lock<std::mutex> lock(m_);
      changed_.wait(lock, [&] { return stop_ || can_read() || !pending_.empty() || reading_done_; });
      if (stop_) return;
      if (can_read()) {  // read ahead first, so the caller finds records to decode when it waits
        reading_ = true;
        ++in_flight_;
      } else if (!pending_.empty()) {
        todo = std::move(pending_.front());
        pending_.pop_front();
      } else {
        return;  // everything is read and taken on
      }
    }
    if (todo.second)
      decode_one(todo.first, std::move(todo.second));
    else
      read_one();
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
      out->records.reset();
      return true;
    }
    while (!done_.count(taken_)) {
      // Not decoded yet: decode a batch read ahead (the oldest), else read one, rather than sleep (a
      // thread woken on a busy machine can wait milliseconds for a core, for every batch); wait only
      // when there is nothing to take on.
      if (!pending_.empty()) {
        auto todo = std::move(pending_.front());
        pending_.pop_front();
        lock.unlock();
        decode_one(todo.first, std::move(todo.second));
        lock.lock();
      } else if (can_read()) {
        reading_ = true;
        ++in_flight_;
        lock.unlock();
        read_one();
        lock.lock();
      } else if (!changed_.wait_for(lock, std::chrono::milliseconds(ms), [&] {
                   return done_.count(taken_) > 0 || !pending_.empty() || can_read();
                 })) {
        return false;
      }
    }
  auto it = done_.find(taken_);
    d = std::move(it->second);
    done_.erase(it);
    last = taken_ == last_seq_;
    ++taken_;
    --in_flight_;
    finished_ = last || bool(d.error);
  }
  changed_.notify_all();  // room to read ahead
  if (d.error) {
    recycle(std::move(d.dec), std::move(d.records));
    std::rethrow_exception(d.error);
  }
  if (d.dec->rows() == 0) {  // only the last batch can be empty
    recycle(std::move(d.dec), std::move(d.records));
    out->dec.reset();
    out->segments.clear();
    out->records.reset();
    return true;
  }
  out->dec = std::move(d.dec);
  out->segments = std::move(d.segments);
  out->records = std::move(d.records);
  return true;
}

}  // namespace tfforge::record
