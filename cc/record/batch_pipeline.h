// Ordered parallel reading: record files -> batches of decoded columns, in file order, read and decoded
// on worker threads while the caller consumes earlier ones.
//
// The files are one stream of records: batch k holds records [k * batch_size, (k + 1) * batch_size) of
// it (batches span file boundaries), exactly what reading on one thread gives. Reading and decoding are
// separate steps. One thread at a time reads the next batch's records (an uncompressed file is read
// straight into the batch's own buffer in cache-sized pieces - or, with borrow_bytes, mapped when it is
// large - and only its framing is checked there; a compressed one goes through a RecordReader and its
// records are copied) and queues them; any thread
// takes the oldest queued batch, checks its data CRCs and decodes it into a decoder of its own. Worker
// threads read ahead whenever there is room and decode otherwise; the caller is one of the `workers`:
// while the batch it wants is not ready it decodes a queued batch (or reads one when nobody is
// reading), so one thread reads while the other decodes and neither waits for the other's lock. The
// caller takes finished batches strictly in order. Reading runs ahead of the caller by a bounded number
// of batches, so memory stays a few batches whatever the file sizes (a mapped file's pages too: those
// of each batch are given back when it is recycled). Errors come in record order: a
// batch whose records hold a bad one (or whose reading failed) raises when the caller reaches it, after
// every earlier batch. Problems the direct path finds (framing, data CRC) are raised by reading the file
// again through a RecordReader up to that record, so messages, record indexes and offsets are the
// reader's. No recovery mode here (skip_corrupt changes batch boundaries; see parallel_decode.h for that).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "graph/mapped_file.h"
#include "record/compression.h"
#include "record/example_decoder.h"
#include "record/record_reader.h"

namespace tfforge::record {

namespace pipeline {
// A growable byte buffer that is not zero-filled (it is read into).
struct Bytes {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0, cap = 0;
  void grow_to(size_t n);  // capacity for n bytes, contents kept
};
// Where a record of a job lies: in a mapped file (`mapped`, set), in `raw` (uncompressed files read
// straight into it) or in `copied` (records a RecordReader gave). Data CRCs of the first two are still
// to check when verifying.
struct Rec {
  bool raw;
  size_t start, size;
  uint32_t crc;
  const uint8_t* mapped = nullptr;
};
}  // namespace pipeline

class BatchPipeline {
 public:
  // Where a batch's rows come from: rows from `row` on are records from `record` on of file `file`.
  struct Segment {
    int64_t row;
    size_t file;
    int64_t record;
  };
  struct Job;  // a batch's records as read
  struct Batch {
    std::unique_ptr<ExampleDecoder> dec;  // holds the batch's rows; hand it back with recycle()
    std::vector<Segment> segments;
    std::unique_ptr<Job> records;  // with borrow_bytes: the records dec's bytes columns point into
  };

  // compression: nullopt = each file's own, detected when it is opened (detect_compression).
  // borrow_bytes: bytes values are not copied out of the records (ExampleDecoder::borrow_bytes); each
  // batch then holds its records until they are recycled with its decoder.
  BatchPipeline(std::vector<std::string> paths, std::optional<Compression> compression, ReaderOptions options,
                std::vector<FeatureSpec> spec, bool strict, int64_t batch_size, int workers,
                bool borrow_bytes = false);
  ~BatchPipeline();  // stops the workers and waits for them
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // Waits up to `ms` milliseconds for the next batch. Returns true when it is decided: *out holds it
  // (out->dec null at the end of the data), or its error is thrown. False: not ready yet, ask again.
  bool next(Batch* out, int ms);
  // Returns a batch's decoder (its columns taken) and records for reuse. Batches are recycled in the
  // order they were taken: the pages of mapped files their records lay in are given back here.
  void recycle(std::unique_ptr<ExampleDecoder> dec, std::unique_ptr<Job> records = nullptr);
  // Throws CorruptRecordError naming the file when a file the batch's records were mapped from changed
  // since it was opened. Call it after copying borrowed bytes out: they may not be what was checked.
  static void check_unchanged(const Job* records);
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  struct Done {
    std::unique_ptr<ExampleDecoder> dec;
    std::vector<Segment> segments;
    std::unique_ptr<Job> records;
    std::exception_ptr error;
  };
  void work();
  // Whether a thread may read the next batch now (m_ held): one reader at a time, a bounded number of
  // batches ahead of the caller.
  bool can_read() const;
  // Reads the next batch's records (the calling thread set reading_) and queues them for decoding.
  void read_one();
  // Decodes a batch's records into a decoder of its own; its result goes to done_.
  void decode_one(int64_t seq, std::unique_ptr<Job> job);
  std::unique_ptr<Job> take_job();
  // Reads the next batch's records (the reading thread); false when nothing is left to read.
  bool read_job(Job* job);
  // Appends the next record of the mapped file to job->recs; false at its end. Framing is checked
  // here; anything wrong is raised by replay().
  bool read_mapped_record(Job* job);
  // Appends the next record of the open uncompressed file to job->raw; false at its end. Framing is
  // checked here; anything wrong is raised by replay().
  bool read_raw_record(Job* job, size_t* parsed);
  // Makes n bytes from `parsed` available in job->raw; false if the file ends first.
  bool fill_raw(Job* job, size_t parsed, size_t n);
  // Raises the error RecordReader raises at record `record` of file `file` (reading it again from the
  // start): the fast path's problems get exactly the slow path's messages.
  [[noreturn]] void replay(size_t file, int64_t record) const;
  std::unique_ptr<ExampleDecoder> take_decoder();
  static void release_pages(const Job& job);

  std::vector<std::string> paths_;
  std::optional<Compression> compression_;
  ReaderOptions options_;
  std::vector<FeatureSpec> spec_;
  bool strict_;
  bool borrow_;
  int64_t batch_size_;
  size_t ahead_;  // batches read but not yet taken, at most

  // Reader state: used only by the thread that set reading_ (under m_), one at a time.
  std::unique_ptr<RecordReader> reader_;  // a compressed file
  int fd_ = -1;                            // an uncompressed file, read straight into jobs
  std::shared_ptr<graph::MappedFile> map_;  // a large uncompressed file, mapped (borrowing only)
  uint64_t map_parsed_ = 0;                // bytes of it parsed
  uint64_t file_size_ = 0, file_read_ = 0, file_parsed_ = 0;  // bytes of it: in all, read, parsed
  pipeline::Bytes carry_;                  // read beyond the last job's records: the next job's start
  size_t record_hint_ = 0;                 // size of a record seen (read-ahead)
  size_t file_ = 0;
  int64_t file_records_ = 0;  // records read from the current file
  int64_t next_seq_ = 0;

  std::mutex m_;  // the state below, up to threads_
  std::condition_variable changed_;  // a batch read or decoded or taken, reading done, stopping
  bool reading_ = false;       // a thread is reading
  bool reading_done_ = false;  // the last batch is read
  std::deque<std::pair<int64_t, std::unique_ptr<Job>>> pending_;  // read, not yet decoded, in order
  std::map<int64_t, Done> done_;
  int64_t taken_ = 0;
  size_t in_flight_ = 0;  // batches being read, read or decoded and not yet taken
  int64_t last_seq_ = -1;  // the batch that ended the data (empty, short or failed), once known
  bool finished_ = false;  // the caller has had the last batch or an error
  bool stop_ = false;
  std::vector<std::unique_ptr<ExampleDecoder>> pool_;
  std::vector<ExampleDecoder::ColumnSizes> sizes_;  // of the first full batch: new decoders reserve as much
  std::vector<std::unique_ptr<Job>> jobs_;  // record buffers for reuse
  std::vector<std::thread> threads_;
};

// One batch's records: what a worker read for it.
struct BatchPipeline::Job {
  pipeline::Bytes raw;
  std::vector<uint8_t> copied;
  std::vector<pipeline::Rec> recs;
  std::vector<int64_t> index;
  std::vector<uint64_t> offset;
  std::vector<Segment> segments;
  std::vector<std::shared_ptr<graph::MappedFile>> maps;  // the mapped files its records lie in
  std::exception_ptr read_error;  // reading stopped here (after the job's records)
  size_t size() const { return recs.size(); }
};

}  // namespace tfforge::record
