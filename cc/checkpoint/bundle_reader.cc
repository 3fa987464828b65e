#include "checkpoint/bundle_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "checkpoint/dtypes.h"
#include "checkpoint/slice_key.h"
#include "checkpoint/table.h"
#include "error.h"
#include "record/crc32c.h"

namespace tfforge::checkpoint {
namespace {

constexpr int32_t kBundleVersion = 1;      // the format version this reader implements
constexpr int32_t kMaxShards = 1 << 20;

[[noreturn]] void fail(const std::string& what, const std::string& path, int64_t offset = -1) {
  throw Error("CheckpointError", what).at_path(path).at_offset(offset);
}

std::string quoted(const std::string& name) { return "tensor '" + name + "'"; }

std::string crc_text(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Calls copy(dst_element, src_element, count) for each contiguous run of `slice` (row-major, shaped
// by its extents) inside a row-major tensor of shape `full`.
template <typename Copy>
void for_each_run(const std::vector<int64_t>& full, const Slice& slice, Copy copy) {
  size_t rank = full.size();
  std::vector<int64_t> start(rank), len(rank), stride(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    start[d] = slice[d].length < 0 ? 0 : slice[d].start;
    len[d] = slice[d].length < 0 ? full[d] : slice[d].length;
  }
  for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * full[d];
  if (rank == 0) return copy(0, 0, 1);
  for (int64_t l : len) if (l == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t src = 0, run = len[rank - 1];
  while (true) {
    int64_t dst = 0;
    for (size_t d = 0; d < rank; ++d) dst += (start[d] + idx[d]) * stride[d];
    copy(dst, src, run);
    src += run;
    size_t d = rank - 1;
    while (d-- > 0) {
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
    if (d == size_t(-1)) return;
  }
}

void byte_swap(uint8_t* p, size_t n, int width) {
  if (width <= 1) return;
  for (size_t i = 0; i + size_t(width) <= n; i += size_t(width)) std::reverse(p + i, p + i + width);
}

}  // namespace

int64_t num_elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t(1) << 62) / d)) return -1;
    n *= d;
  }
  return n;
}

std::shared_ptr<BundleReader> BundleReader::open(const std::string& prefix) {
  std::string path = prefix + ".index";
  std::shared_ptr<graph::MappedFile> index;
  try {
    index = graph::MappedFile::open(path);
  } catch (Error& e) {
    e.kind = "CheckpointError";
    throw;
  }
  std::vector<TableEntry> table = read_table(index->span(), path);
  std::shared_ptr<BundleReader> r(new BundleReader());
  r->prefix_ = prefix;
  if (table.empty() || !table[0].key.empty()) fail("checkpoint index has no header entry", path);
  try {
    r->header_ = decode_header({reinterpret_cast<const uint8_t*>(table[0].value.data()), table[0].value.size()});
  } catch (const wire::ParseError& e) {
    fail(std::string("malformed checkpoint header: ") + e.what(), path, int64_t(table[0].block_offset));
  }
  const Header& h = r->header_;
  if (h.num_shards < 1 || h.num_shards > kMaxShards)
    fail("checkpoint header names " + std::to_string(h.num_shards) + " data shards", path);
  if (h.endianness != 0 && h.endianness != 1) fail("checkpoint header has unknown endianness " + std::to_string(h.endianness), path);
  if (h.min_consumer > kBundleVersion ||
      std::find(h.bad_consumers.begin(), h.bad_consumers.end(), kBundleVersion) != h.bad_consumers.end())
    fail("checkpoint format version " + std::to_string(h.producer) + " (min consumer " + std::to_string(h.min_consumer) +
         ") is newer than this reader (version " + std::to_string(kBundleVersion) + ")", path);

  for (size_t i = 1; i < table.size(); ++i) {
    const TableEntry& t = table[i];
    Entry e;
    try {
      e = decode_entry({reinterpret_cast<const uint8_t*>(t.value.data()), t.value.size()});
    } catch (const wire::ParseError& err) {
      fail("malformed index entry of " + quoted(t.key) + ": " + err.what(), path, int64_t(t.block_offset));
    }
    auto bad = [&](const std::string& what) { fail("index entry of " + quoted(t.key) + ": " + what, path, int64_t(t.block_offset)); };
    if (e.unknown_rank) bad("shape of unknown rank");
    int64_t n = num_elements(e.shape);
    if (n < 0) bad("invalid shape");
    int es = element_size(e.dtype);
    if (es == 0 && e.dtype != kDtString && e.dtype != kDtVariant) bad("unsupported dtype " + std::to_string(e.dtype));
    if (e.shard_id < 0 || e.shard_id >= h.num_shards) bad("shard " + std::to_string(e.shard_id) + " out of range");
    if (e.offset < 0 || e.size < 0) bad("negative offset or size");
    if (e.slices.empty()) {
      if (es && uint64_t(e.size) != uint64_t(n) * uint64_t(es))
        bad(std::to_string(e.size) + " stored bytes for " + std::to_string(n) + " elements of " + std::to_string(es) + " bytes");
    } else {
      for (const Slice& s : e.slices) {
        if (s.size() != e.shape.size()) bad("slice rank differs from the tensor's rank");
        for (size_t d = 0; d < s.size(); ++d)
          if (s[d].length >= 0 && (s[d].start < 0 || s[d].start > e.shape[d] || s[d].length > e.shape[d] - s[d].start))
            bad("slice extent outside the tensor's shape");
      }
    }
    r->entries_.emplace(t.key, std::move(e));
  }
  std::set<std::string> slice_keys;
  for (const auto& [name, e] : r->entries_) {
    for (const Slice& s : e.slices) {
      std::string key = slice_key(name, s);
      auto it = r->entries_.find(key);
      if (it == r->entries_.end()) fail("a stored slice of " + quoted(name) + " is missing from the index", path);
      std::vector<int64_t> shape;
      for (size_t d = 0; d < s.size(); ++d) shape.push_back(s[d].length < 0 ? e.shape[d] : s[d].length);
      if (it->second.dtype != e.dtype || it->second.shape != shape || !it->second.slices.empty())
        fail("a stored slice of " + quoted(name) + " does not match its dtype or extent", path);
      slice_keys.insert(key);
    }
  }
  for (const auto& kv : r->entries_)
    if (!slice_keys.count(kv.first)) r->names_.push_back(kv.first);
  return r;
}

bool BundleReader::contains(const std::string& name) const {
  return entries_.count(name) && std::binary_search(names_.begin(), names_.end(), name);
}

const Entry& BundleReader::entry(const std::string& name) const {
  if (!contains(name)) throw Error("CheckpointError", quoted(name) + " not found in checkpoint").at_path(prefix_);
  return entries_.at(name);
}

uint64_t BundleReader::nbytes(const std::string& name) const {
  const Entry& e = entry(name);
  int es = element_size(e.dtype);
  if (es) return uint64_t(num_elements(e.shape)) * uint64_t(es);
  uint64_t total = uint64_t(e.size);
  for (const Slice& s : e.slices) total += uint64_t(entries_.at(slice_key(name, s)).size);
  return total;
}

std::string BundleReader::shard_path(int32_t shard) const {
  char buf[64];
  std::snprintf(buf, sizeof buf, ".data-%05d-of-%05d", shard, header_.num_shards);
  return prefix_ + buf;
}

void BundleReader::fail_tensor(const std::string& name, const std::string& what, const std::string& path,
                               int64_t offset) const {
  fail(quoted(name) + ": " + what, path, offset);
}

std::shared_ptr<graph::MappedFile> BundleReader::shard(const std::string& what, int32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = shards_[id];
  if (!slot) {
    try {
      slot = graph::MappedFile::open(shard_path(id));
    } catch (Error& err) {
      shards_.erase(id);
      fail_tensor(what, std::string("data shard unreadable: ") + err.what(), shard_path(id), -1);
    }
  }
  return slot;
}

uint64_t BundleReader::check_stored(const std::string& name) {
  const Entry& e = entry(name);
  std::vector<std::pair<std::string, const Entry*>> pieces;
  if (e.slices.empty()) pieces.emplace_back(name, &e);
  for (const Slice& s : e.slices) pieces.emplace_back(name + " (slice)", &entries_.at(slice_key(name, s)));
  uint64_t total = 0;
  for (const auto& [what, piece] : pieces) {
    uint64_t size = shard(what, piece->shard_id)->span().size;
    if (uint64_t(piece->offset) > size || uint64_t(piece->size) > size - uint64_t(piece->offset))
      fail_tensor(what, std::to_string(piece->size) + " bytes run past the end of the data file (" + std::to_string(size) + " bytes)",
                  shard_path(piece->shard_id), piece->offset);
    total += uint64_t(piece->size);
  }
  return total;
}

BundleReader::~BundleReader() {
  for (auto& kv : fds_) ::close(kv.second);
}

void BundleReader::check_crc(const std::string& what, const Entry& e, const uint8_t* data) {
  uint32_t actual = crc32c::value(data, size_t(e.size));
  if (actual != crc32c::unmask(e.crc32c))
    fail_tensor(what, "CRC32C mismatch (index says " + crc_text(crc32c::unmask(e.crc32c)) + ", data has " + crc_text(actual) + ")",
                shard_path(e.shard_id), e.offset);
}

void BundleReader::copy_checked(const std::string& what, const Entry& e, uint8_t* out, bool check) {
  std::string path = shard_path(e.shard_id);
  shard(what, e.shard_id);  // opens (and validates) the shard once
  int fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fds_.find(e.shard_id);
    if (it == fds_.end()) {
      int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (f < 0) fail_tensor(what, std::string("data shard unreadable: ") + std::strerror(errno), path, -1);
      it = fds_.emplace(e.shard_id, f).first;
    }
    fd = it->second;
  }
  uint64_t done = 0, n = uint64_t(e.size);
  while (done < n) {
    ssize_t k = ::pread(fd, out + done, size_t(std::min<uint64_t>(n - done, uint64_t(1) << 30)), off_t(e.offset + int64_t(done)));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) fail_tensor(what, std::string("cannot read: ") + std::strerror(errno), path, e.offset + int64_t(done));
    if (k == 0) fail_tensor(what, "data file ends early (it shrank while the checkpoint was open)", path, e.offset + int64_t(done));
    done += uint64_t(k);
  }
  if (check) check_crc(what, e, out);
}

wire::Span BundleReader::checked_bytes(const std::string& what, const Entry& e, bool check_crc) {
  std::string path = shard_path(e.shard_id);
  std::shared_ptr<graph::MappedFile> shard = this->shard(what, e.shard_id);
  wire::Span all = shard->span();
  if (uint64_t(e.offset) > all.size || uint64_t(e.size) > all.size - uint64_t(e.offset))
    fail_tensor(what, std::to_string(e.size) + " bytes run past the end of the data file (" + std::to_string(all.size) + " bytes)",
                path, e.offset);
  // A file truncated or rewritten after it was mapped: refuse it (the SIGBUS guard turns a read past
  // its new end into zero pages, so the CRC check cannot fault; the change is reported, not the CRC).
  auto changed = [&] {
    if (shard->changed()) fail_tensor(what, "data file changed while the checkpoint was open", path, e.offset);
  };
  changed();
  wire::Span bytes{all.data + e.offset, size_t(e.size)};
  try {
    if (check_crc) this->check_crc(what, e, bytes.data);
  } catch (...) {
    changed();
    throw;
  }
  changed();
  return bytes;
}

void BundleReader::read_into(const std::string& name, uint8_t* out, size_t n) {
  const Entry& e = entry(name);
  int es = element_size(e.dtype);
  if (!es) throw Error("CheckpointError", quoted(name) + " holds variable-length elements (strings or variants)").at_path(prefix_);
  int64_t count = num_elements(e.shape);
  if (uint64_t(n) != uint64_t(count) * uint64_t(es))
    throw Error("CheckpointError", quoted(name) + ": output buffer of the wrong size").at_path(prefix_);
  check_stored(name);
  if (e.slices.empty()) {
    copy_checked(name, e, out, true);
  } else {
    // The slices must tile the tensor: inside it (checked at open), not overlapping, covering it.
    int64_t covered = 0;
    std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> boxes;  // [begin, end) per dim
    for (const Slice& s : e.slices) {
      std::vector<int64_t> lo, hi;
      for (size_t d = 0; d < s.size(); ++d) {
        lo.push_back(s[d].length < 0 ? 0 : s[d].start);
        hi.push_back(s[d].length < 0 ? e.shape[d] : s[d].start + s[d].length);
      }
      for (const auto& [blo, bhi] : boxes) {
        bool overlap = true;
        for (size_t d = 0; d < lo.size(); ++d) overlap = overlap && lo[d] < bhi[d] && blo[d] < hi[d];
        if (overlap) fail_tensor(name, "stored slices overlap", prefix_ + ".index", -1);
      }
      int64_t vol = 1;
      for (size_t d = 0; d < lo.size(); ++d) vol *= hi[d] - lo[d];
      covered += vol;
      boxes.emplace_back(std::move(lo), std::move(hi));
    }
    if (covered != count) fail_tensor(name, "stored slices do not cover the whole tensor", prefix_ + ".index", -1);
    for (const Slice& s : e.slices) {
      std::string key = slice_key(name, s);
      const Entry& se = entries_.at(key);
      std::vector<uint8_t> part(size_t(se.size));
      copy_checked(name + " (slice)", se, part.data(), true);
      for_each_run(e.shape, s, [&](int64_t dst, int64_t src, int64_t run) {
        if (run) std::memcpy(out + dst * es, part.data() + src * es, size_t(run * es));
      });
    }
  }
  if (header_.endianness == 1) byte_swap(out, n, swap_width(e.dtype));
}

std::vector<std::string> BundleReader::decode_elements(const std::string& what, const Entry& e, uint64_t count) {
  std::vector<std::string> out;
  std::vector<uint8_t> stored(size_t(e.size));  // bounded: check_stored ran before
  copy_checked(what, e, stored.data(), false);
  wire::Span b{stored.data(), stored.size()};
  std::string path = shard_path(e.shard_id);
  if (b.size == 0 && count == 0) return out;
  if (count > b.size) fail_tensor(what, std::to_string(count) + " elements cannot fit in " + std::to_string(b.size) + " bytes", path, e.offset);
  bool swap = header_.endianness == 1;
  uint32_t crc = 0;
  wire::Reader r(b, uint64_t(e.offset));
  auto extend = [&](const void* p, size_t k) { crc = crc32c::extend(crc, p, k); };
  auto check = [&](uint32_t stored, const std::string& where) {
    if (crc32c::unmask(stored) != crc)
      fail_tensor(what, "CRC32C mismatch in " + where, path, int64_t(r.offset()) - 4);
  };
  try {
    if (e.dtype == kDtString) {
      std::vector<uint64_t> lengths(count);
      for (auto& len : lengths) {
        len = r.varint();
        if (len <= 0xffffffffull) {
          uint32_t v = uint32_t(len);
          if (swap) v = __builtin_bswap32(v);
          extend(&v, 4);
        } else {
          uint64_t v = swap ? __builtin_bswap64(len) : len;
          extend(&v, 8);
        }
      }
      uint32_t raw = r.fixed32();
      check(swap ? __builtin_bswap32(raw) : raw, "the string lengths");
      extend(&raw, 4);
      out.reserve(count);
      for (uint64_t len : lengths) {
        if (len > uint64_t(b.end() - r.cursor())) r.fail("string runs past the tensor's bytes");
        out.emplace_back(reinterpret_cast<const char*>(r.cursor()), size_t(len));
        extend(r.cursor(), size_t(len));
        r = wire::Reader(r.cursor() + len, size_t(b.end() - r.cursor() - len), r.offset() + len);
      }
    } else {
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t len = r.varint();
        extend(&len, 8);
        if (len > uint64_t(b.end() - r.cursor())) r.fail("variant runs past the tensor's bytes");
        out.emplace_back(reinterpret_cast<const char*>(r.cursor()), size_t(len));
        extend(r.cursor(), size_t(len));
        r = wire::Reader(r.cursor() + len, size_t(b.end() - r.cursor() - len), r.offset() + len);
        uint32_t stored = r.fixed32();
        check(stored, "variant element " + std::to_string(i));
        extend(&stored, 4);
      }
    }
  } catch (const wire::ParseError& err) {
    fail_tensor(what, err.what(), path, int64_t(err.offset));
  }
  if (!r.done()) fail_tensor(what, "bytes left over after the last element", path, int64_t(r.offset()));
  if (crc != crc32c::unmask(e.crc32c))
    fail_tensor(what, "CRC32C mismatch (index says " + crc_text(crc32c::unmask(e.crc32c)) + ", data has " + crc_text(crc) + ")",
                path, e.offset);
  return out;
}

std::vector<std::string> BundleReader::read_elements(const std::string& name) {
  const Entry& e = entry(name);
  if (e.dtype != kDtString && e.dtype != kDtVariant)
    throw Error("CheckpointError", quoted(name) + " holds fixed-size elements, not strings").at_path(prefix_);
  uint64_t count = uint64_t(num_elements(e.shape));
  uint64_t stored = check_stored(name);
  if (e.slices.empty()) return decode_elements(name, e, count);
  if (count > stored)  // every element takes at least its one-byte length
    fail_tensor(name, std::to_string(count) + " elements cannot fit in the stored slices", prefix_ + ".index", -1);
  std::vector<std::string> out(count);
  uint64_t covered = 0;
  for (const Slice& s : e.slices) {
    const Entry& se = entries_.at(slice_key(name, s));
    std::vector<std::string> part = decode_elements(name + " (slice)", se, uint64_t(num_elements(se.shape)));
    covered += part.size();
    for_each_run(e.shape, s, [&](int64_t dst, int64_t src, int64_t run) {
      for (int64_t i = 0; i < run; ++i) out[size_t(dst + i)] = std::move(part[size_t(src + i)]);
    });
  }
  if (covered != count) fail_tensor(name, "stored slices do not cover the whole tensor", prefix_ + ".index", -1);
  return out;
}

wire::Span BundleReader::stored_bytes(const std::string& name) {
  const Entry& e = entry(name);
  if (!e.slices.empty() || header_.endianness != 0 || !element_size(e.dtype)) return {};
  // Only bytes nothing can change: a view of a mapped file that another process truncates or
  // rewrites later would read zeros or different values after this check. Such tensors are copied.
  if (e.size > 0 && !shard(name, e.shard_id)->stable()) return {};
  return checked_bytes(name, e, true);
}

std::shared_ptr<const graph::StoredBytes> BundleReader::stored_range(const std::string& name) {
  const Entry& e = entry(name);
  if (!e.slices.empty() || header_.endianness != 0 || !element_size(e.dtype)) return nullptr;
  std::shared_ptr<const graph::SourceFile> file;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = sources_[e.shard_id];
    if (!slot) {
      try {
        slot = graph::SourceFile::open(shard_path(e.shard_id), "CheckpointError");
      } catch (Error& err) {
        sources_.erase(e.shard_id);
        fail_tensor(name, std::string("data shard unreadable: ") + err.what(), err.path, -1);
      }
    }
    file = slot;
  }
  if (uint64_t(e.offset) > file->size() || uint64_t(e.size) > file->size() - uint64_t(e.offset))
    fail_tensor(name, std::to_string(e.size) + " bytes run past the end of the data file (" + std::to_string(file->size()) + " bytes)",
                file->path(), e.offset);
  return std::make_shared<graph::StoredBytes>(file, uint64_t(e.offset), uint64_t(e.size), crc32c::unmask(e.crc32c),
                                              quoted(name));
}

}  // namespace tfforge::checkpoint
