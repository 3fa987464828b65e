#include "checkpoint/bundle_writer.h"

#include "checkpoint/bundle_reader.h"
#include "checkpoint/dtypes.h"
#include "checkpoint/table.h"
#include "error.h"
#include "io/atomic_file.h"
#include "record/crc32c.h"

namespace tfforge::checkpoint {

constexpr size_t kBuffer = size_t(8) << 20;

BundleWriter::BundleWriter(std::string prefix) : prefix_(std::move(prefix)) {
  data_ = std::make_unique<io::AtomicFile>(prefix_ + ".data-00000-of-00001", "CheckpointError");
  buf_.reserve(kBuffer);
}

BundleWriter::~BundleWriter() = default;

Entry& BundleWriter::new_entry(const std::string& name, int dtype, const std::vector<int64_t>& shape) {
  if (failed_) throw Error("CheckpointError", "an earlier write to this checkpoint failed").at_path(prefix_);
  if (finished_) throw Error("CheckpointError", "checkpoint writer already finished").at_path(prefix_);
  if (name.empty()) throw Error("CheckpointError", "a tensor name must not be empty").at_path(prefix_);
  for (int64_t d : shape)
    if (d < 0) throw Error("CheckpointError", "tensor '" + name + "': negative dimension").at_path(prefix_);
  auto [it, fresh] = entries_.try_emplace(name);
  if (!fresh) throw Error("CheckpointError", "tensor '" + name + "' added twice").at_path(prefix_);
  it->second.dtype = dtype;
  it->second.shape = shape;
  it->second.offset = size_;
  return it->second;
}

void BundleWriter::flush() {
  data_->write(buf_.data(), buf_.size());
  buf_.clear();
}

void BundleWriter::append(const void* p, size_t n) {
  try {
    if (buf_.size() + n > kBuffer) flush();
    if (n >= kBuffer) {
      data_->write(p, n);
    } else {
      const uint8_t* b = static_cast<const uint8_t*>(p);
      buf_.insert(buf_.end(), b, b + n);
    }
  } catch (...) {
    failed_ = true;
    throw;
  }
  size_ += int64_t(n);
}

void BundleWriter::add(const std::string& name, int dtype, const std::vector<int64_t>& shape, wire::Span data) {
  std::lock_guard<std::mutex> lock(mu_);
  int es = element_size(dtype);
  if (!es) throw Error("CheckpointError", "tensor '" + name + "': dtype " + std::to_string(dtype) + " is not fixed-size").at_path(prefix_);
  int64_t n = num_elements(shape);
  if (n < 0 || uint64_t(n) * uint64_t(es) != data.size)
    throw Error("CheckpointError", "tensor '" + name + "': " + std::to_string(data.size) + " bytes for " +
                std::to_string(n) + " elements").at_path(prefix_);
  Entry& e = new_entry(name, dtype, shape);
  e.size = int64_t(data.size);
  e.crc32c = crc32c::mask(crc32c::value(data.data, data.size));
  append(data.data, data.size);
}

void BundleWriter::add_elements(const std::string& name, int dtype, const std::vector<int64_t>& shape,
                                const std::vector<wire::Span>& elements) {
  std::lock_guard<std::mutex> lock(mu_);
  if (dtype != kDtString && dtype != kDtVariant)
    throw Error("CheckpointError", "tensor '" + name + "': elements given for a fixed-size dtype").at_path(prefix_);
  int64_t n = num_elements(shape);
  if (n < 0 || uint64_t(n) != elements.size())
    throw Error("CheckpointError", "tensor '" + name + "': " + std::to_string(elements.size()) + " elements for shape of " +
                std::to_string(n)).at_path(prefix_);
  Entry& e = new_entry(name, dtype, shape);
  int64_t start = size_;
  uint32_t crc = 0;
  uint8_t tmp[10];
  if (dtype == kDtString) {
    // [varint64 length]... [masked CRC32C of the lengths as uint32 (uint64 past 4 GB)] [bytes]...
    std::vector<uint8_t> lengths;
    for (const wire::Span& s : elements) {
      lengths.insert(lengths.end(), tmp, wire::put_varint(tmp, s.size));
      if (s.size <= 0xffffffffull) {
        uint32_t v = uint32_t(s.size);
        crc = crc32c::extend(crc, &v, 4);
      } else {
        uint64_t v = s.size;
        crc = crc32c::extend(crc, &v, 8);
      }
    }
    append(lengths.data(), lengths.size());
    uint32_t masked = crc32c::mask(crc);
    append(&masked, 4);
    crc = crc32c::extend(crc, &masked, 4);
    for (const wire::Span& s : elements) {
      append(s.data, s.size);
      crc = crc32c::extend(crc, s.data, s.size);
    }
  } else {
    // per element: [varint64 length] [bytes] [masked running CRC32C]
    for (const wire::Span& s : elements) {
      uint64_t len = s.size;
      append(tmp, size_t(wire::put_varint(tmp, len) - tmp));
      crc = crc32c::extend(crc, &len, 8);
      append(s.data, s.size);
      crc = crc32c::extend(crc, s.data, s.size);
      uint32_t masked = crc32c::mask(crc);
      append(&masked, 4);
      crc = crc32c::extend(crc, &masked, 4);
    }
  }
  e.size = size_ - start;
  e.crc32c = crc32c::mask(crc);
}

void BundleWriter::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_) throw Error("CheckpointError", "an earlier write to this checkpoint failed; nothing was written").at_path(prefix_);
  if (finished_) throw Error("CheckpointError", "checkpoint writer already finished").at_path(prefix_);
  finished_ = true;
  std::vector<std::pair<std::string, std::string>> rows;
  rows.reserve(entries_.size() + 1);
  rows.emplace_back("", encode_header(Header{}));
  for (const auto& [name, e] : entries_) rows.emplace_back(name, encode_entry(e));
  std::vector<uint8_t> table = build_table(rows);
  flush();
  io::AtomicFile index(prefix_ + ".index", "CheckpointError");
  index.write(table.data(), table.size());
  data_->commit();  // the data first: an index never names data that is not there
  index.commit();
}

}  // namespace tfforge::checkpoint
