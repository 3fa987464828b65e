#include "checkpoint/table.h"

#include <cstring>

#include "checkpoint/snappy.h"
#include "error.h"
#include "record/crc32c.h"

namespace tfforge::checkpoint {
namespace {

constexpr uint64_t kMagic = 0xdb4775248b80fb57ull;
constexpr size_t kFooterSize = 48;
constexpr size_t kTrailerSize = 5;
constexpr size_t kBlockSize = 262144;
constexpr int kRestartInterval = 16;
constexpr size_t kMaxBlockBytes = size_t(1) << 30;  // a decompressed block larger than this is corrupt

struct Handle {
  uint64_t offset, size;
};

[[noreturn]] void corrupt(const std::string& path, uint64_t offset, const std::string& what) {
  throw Error("CheckpointError", "corrupt checkpoint index: " + what).at_path(path).at_offset(int64_t(offset));
}

Handle read_handle(wire::Reader& r) {
  Handle h;
  h.offset = r.varint();
  h.size = r.varint();
  return h;
}

// The block's bytes after checking its trailer (and decompressing a snappy block into `storage`).
wire::Span read_block(wire::Span file, Handle h, const std::string& path, std::vector<uint8_t>& storage) {
  if (h.offset > file.size || h.size > file.size - h.offset || file.size - h.offset - h.size < kTrailerSize)
    corrupt(path, h.offset, "block of " + std::to_string(h.size) + " bytes runs past the end of the file");
  const uint8_t* block = file.data + h.offset;
  uint32_t stored;
  std::memcpy(&stored, block + h.size + 1, 4);
  uint32_t actual = crc32c::value(block, size_t(h.size) + 1);
  if (crc32c::unmask(stored) != actual)
    corrupt(path, h.offset, "block checksum mismatch (CRC32C of the block and its type byte)");
  uint8_t type = block[h.size];
  if (type == 0) return {block, size_t(h.size)};
  if (type != 1) corrupt(path, h.offset + h.size, "unknown block compression type " + std::to_string(type));
  try {
    storage = snappy_uncompress({block, size_t(h.size)}, kMaxBlockBytes);
  } catch (const wire::ParseError& e) {
    corrupt(path, h.offset + e.offset, std::string("bad snappy block: ") + e.what());
  }
  return {storage.data(), storage.size()};
}

// Calls fn(key, value) for each entry of a block; `base` is the block's file offset.
template <typename Fn>
void for_each_entry(wire::Span block, uint64_t base, const std::string& path, Fn fn) {
  if (block.size < 4) corrupt(path, base, "block too short for its restart count");
  uint32_t restarts;
  std::memcpy(&restarts, block.data + block.size - 4, 4);
  if (restarts == 0 || restarts > (block.size - 4) / 4) corrupt(path, base, "bad restart count " + std::to_string(restarts));
  size_t limit = block.size - 4 - 4 * size_t(restarts);
  std::vector<uint32_t> restart_at(restarts);
  if (restarts) std::memcpy(restart_at.data(), block.data + limit, 4 * size_t(restarts));
  size_t next_restart = 0;
  std::string key;
  wire::Reader r(block.data, limit, base);
  while (!r.done()) {
    uint64_t at = r.offset() - base;
    uint64_t shared = r.varint(), unshared = r.varint(), length = r.varint();
    bool is_restart = next_restart < restarts && restart_at[next_restart] == at;
    if (is_restart) ++next_restart;
    if (shared > key.size() || (is_restart && shared != 0)) corrupt(path, base + at, "bad shared key prefix length");
    if (unshared > limit - (r.offset() - base) || length > limit - (r.offset() - base) - unshared)
      corrupt(path, base + at, "entry runs past the end of its block");
    key.resize(size_t(shared));
    key.append(reinterpret_cast<const char*>(r.cursor()), size_t(unshared));
    const uint8_t* value = r.cursor() + unshared;
    r = wire::Reader(value + length, size_t(block.data + limit - value - length), base + uint64_t(value + length - block.data));
    fn(key, wire::Span{value, size_t(length)}, base + at);
  }
  bool empty_block = limit == 0 && restarts == 1 && restart_at[0] == 0;
  if (next_restart != restarts && !empty_block) corrupt(path, base, "restart array does not match the block's entries");
}

class BlockBuilder {
 public:
  explicit BlockBuilder(int interval) : interval_(interval) {}
  void add(const std::string& key, const std::string& value) {
    size_t shared = 0;
    if (count_ % interval_ == 0) {
      restarts_.push_back(uint32_t(buf_.size()));
    } else {
      while (shared < key.size() && shared < last_.size() && key[shared] == last_[shared]) ++shared;
    }
    w_varint(shared);
    w_varint(key.size() - shared);
    w_varint(value.size());
    buf_.insert(buf_.end(), key.begin() + long(shared), key.end());
    buf_.insert(buf_.end(), value.begin(), value.end());
    last_ = key;
    ++count_;
  }
  bool empty() const { return count_ == 0; }
  size_t size_estimate() const { return buf_.size() + 4 * restarts_.size() + 4; }
  const std::string& last_key() const { return last_; }
  // Appends the block with its trailer to `out` and returns its handle; resets the builder.
  Handle finish(std::vector<uint8_t>& out) {
    if (restarts_.empty()) restarts_.push_back(0);
    for (uint32_t r : restarts_) w_fixed32(r);
    w_fixed32(uint32_t(restarts_.size()));
    Handle h{out.size(), buf_.size()};
    buf_.push_back(0);  // type: uncompressed
    uint32_t crc = crc32c::mask(crc32c::value(buf_.data(), buf_.size()));
    w_fixed32(crc);
    out.insert(out.end(), buf_.begin(), buf_.end());
    buf_.clear();
    restarts_.clear();
    last_.clear();
    count_ = 0;
    return h;
  }

 private:
  void w_varint(uint64_t v) {
    uint8_t tmp[10];
    buf_.insert(buf_.end(), tmp, wire::put_varint(tmp, v));
  }
  void w_fixed32(uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    buf_.insert(buf_.end(), b, b + 4);
  }
  int interval_;
  std::vector<uint8_t> buf_;
  std::vector<uint32_t> restarts_;
  std::string last_;
  size_t count_ = 0;
};

std::string encode_handle(Handle h) {
  uint8_t tmp[20];
  uint8_t* p = wire::put_varint(tmp, h.offset);
  p = wire::put_varint(p, h.size);
  return std::string(reinterpret_cast<char*>(tmp), size_t(p - tmp));
}

}  // namespace

std::vector<TableEntry> read_table(wire::Span file, const std::string& path) {
  if (file.size < kFooterSize) corrupt(path, 0, "file of " + std::to_string(file.size) + " bytes is shorter than a table footer");
  uint64_t footer_at = file.size - kFooterSize;
  uint64_t magic;
  std::memcpy(&magic, file.data + file.size - 8, 8);
  if (magic != kMagic) corrupt(path, file.size - 8, "bad table magic number (not a checkpoint .index file)");
  std::vector<TableEntry> out;
  try {
    wire::Reader footer(file.data + footer_at, kFooterSize - 8, footer_at);
    Handle meta = read_handle(footer);
    Handle index = read_handle(footer);
    size_t minimal = wire::varint_size(meta.offset) + wire::varint_size(meta.size) + wire::varint_size(index.offset) +
                     wire::varint_size(index.size);
    if (footer.offset() - footer_at != minimal) corrupt(path, footer_at, "footer block handles are not minimally encoded");
    for (uint64_t at = footer.offset(); at < file.size - 8; ++at)
      if (file.data[at]) corrupt(path, at, "non-zero footer padding");
    std::vector<uint8_t> index_storage, data_storage;
    // TensorFlow's tables carry no meta blocks, but the (empty) metaindex block is checksummed too.
    for_each_entry(read_block(file, meta, path, data_storage), meta.offset, path,
                   [&](const std::string&, wire::Span, uint64_t) {});
    wire::Span index_block = read_block(file, index, path, index_storage);
    for_each_entry(index_block, index.offset, path, [&](const std::string&, wire::Span handle, uint64_t at) {
      wire::Reader hr(handle, at);
      Handle h = read_handle(hr);
      if (!hr.done()) corrupt(path, at, "index entry is not a block handle");
      wire::Span block = read_block(file, h, path, data_storage);
      for_each_entry(block, h.offset, path, [&](const std::string& key, wire::Span value, uint64_t entry_at) {
        if (!out.empty() && !(out.back().key < key)) corrupt(path, entry_at, "table keys are not in increasing order");
        out.push_back({key, value.str(), h.offset});
      });
    });
  } catch (const wire::ParseError& e) {
    corrupt(path, e.offset, e.what());
  }
  return out;
}

std::vector<uint8_t> build_table(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<uint8_t> out;
  BlockBuilder data(kRestartInterval), index(1);
  auto flush = [&] {
    std::string last = data.last_key();
    index.add(last, encode_handle(data.finish(out)));
  };
  for (const auto& [key, value] : entries) {
    data.add(key, value);
    if (data.size_estimate() >= kBlockSize) flush();
  }
  if (!data.empty()) flush();
  BlockBuilder meta(1);
  Handle meta_handle = meta.finish(out);
  Handle index_handle = index.finish(out);
  std::string footer = encode_handle(meta_handle) + encode_handle(index_handle);
  footer.resize(kFooterSize - 8, '\0');
  out.insert(out.end(), footer.begin(), footer.end());
  uint8_t magic[8];
  std::memcpy(magic, &kMagic, 8);
  out.insert(out.end(), magic, magic + 8);
  return out;
}

}  // namespace tfforge::checkpoint
