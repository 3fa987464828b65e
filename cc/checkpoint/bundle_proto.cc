#include "checkpoint/bundle_proto.h"

namespace tfforge::checkpoint {
namespace {

using wire::Reader;
using wire::WireType;

// Walks the fields of a message, calling fn(field, type, reader) for each; fn skips what it ignores.
template <typename Fn>
void fields(Reader& r, Fn fn) {
  uint32_t field;
  WireType type;
  while (r.next(&field, &type)) fn(field, type, r);
}

void expect(Reader& r, WireType type, WireType want) {
  if (type != want) r.fail("unexpected wire type " + std::to_string(type));
}

// A packed or unpacked repeated int32 element.
template <typename Out>
void repeated_varint(Reader& r, WireType type, Out& out) {
  if (type == wire::kLengthDelimited) {
    wire::Span s = r.bytes();
    Reader pr(s, r.offset() - s.size);
    while (!pr.done()) out.push_back(static_cast<typename Out::value_type>(pr.varint()));
  } else {
    expect(r, type, wire::kVarint);
    out.push_back(static_cast<typename Out::value_type>(r.varint()));
  }
}

void decode_shape(Reader& r, Entry& e) {
  wire::Span s = r.bytes();
  Reader sr(s, r.offset() - s.size);
  fields(sr, [&](uint32_t f, WireType t, Reader& rr) {
    if (f == 2) {
      expect(rr, t, wire::kLengthDelimited);
      wire::Span d = rr.bytes();
      Reader dr(d, rr.offset() - d.size);
      int64_t size = 0;
      fields(dr, [&](uint32_t df, WireType dt, Reader& r3) {
        if (df == 1) { expect(r3, dt, wire::kVarint); size = int64_t(r3.varint()); } else r3.skip(dt);
      });
      e.shape.push_back(size);
    } else if (f == 3) {
      expect(rr, t, wire::kVarint);
      e.unknown_rank = rr.varint() != 0;
    } else {
      rr.skip(t);
    }
  });
}

Slice decode_slice(Reader& r) {
  Slice slice;
  wire::Span s = r.bytes();
  Reader sr(s, r.offset() - s.size);
  fields(sr, [&](uint32_t f, WireType t, Reader& rr) {
    if (f != 1) return rr.skip(t);
    expect(rr, t, wire::kLengthDelimited);
    wire::Span x = rr.bytes();
    Reader xr(x, rr.offset() - x.size);
    Extent ext;
    fields(xr, [&](uint32_t xf, WireType xt, Reader& r3) {
      if (xf == 1) { expect(r3, xt, wire::kVarint); ext.start = int64_t(r3.varint()); }
      else if (xf == 2) { expect(r3, xt, wire::kVarint); ext.length = int64_t(r3.varint()); }
      else r3.skip(xt);
    });
    slice.push_back(ext);
  });
  return slice;
}

void put_shape(wire::Writer& w, const std::vector<int64_t>& shape, bool unknown_rank) {
  wire::Writer s;
  for (int64_t d : shape) {
    wire::Writer dim;
    if (d != 0) dim.varint_field(1, uint64_t(d));
    s.bytes_field(2, dim.buffer().data(), dim.size());
  }
  if (unknown_rank) s.varint_field(3, 1);
  w.bytes_field(2, s.buffer().data(), s.size());
}

}  // namespace

Entry decode_entry(wire::Span bytes) {
  Entry e;
  Reader r(bytes);
  fields(r, [&](uint32_t f, WireType t, Reader& rr) {
    switch (f) {
      case 1: expect(rr, t, wire::kVarint); e.dtype = int(rr.varint()); break;
      case 2: expect(rr, t, wire::kLengthDelimited); e.shape.clear(); decode_shape(rr, e); break;
      case 3: expect(rr, t, wire::kVarint); e.shard_id = int32_t(rr.varint()); break;
      case 4: expect(rr, t, wire::kVarint); e.offset = int64_t(rr.varint()); break;
      case 5: expect(rr, t, wire::kVarint); e.size = int64_t(rr.varint()); break;
      case 6: expect(rr, t, wire::kFixed32); e.crc32c = rr.fixed32(); break;
      case 7: expect(rr, t, wire::kLengthDelimited); e.slices.push_back(decode_slice(rr)); break;
      default: rr.skip(t);
    }
  });
  return e;
}

Header decode_header(wire::Span bytes) {
  Header h;
  h.num_shards = 0;
  h.producer = 0;
  Reader r(bytes);
  fields(r, [&](uint32_t f, WireType t, Reader& rr) {
    if (f == 1) { expect(rr, t, wire::kVarint); h.num_shards = int32_t(rr.varint()); }
    else if (f == 2) { expect(rr, t, wire::kVarint); h.endianness = int(rr.varint()); }
    else if (f == 3) {
      expect(rr, t, wire::kLengthDelimited);
      wire::Span v = rr.bytes();
      Reader vr(v, rr.offset() - v.size);
      fields(vr, [&](uint32_t vf, WireType vt, Reader& r3) {
        if (vf == 1) { expect(r3, vt, wire::kVarint); h.producer = int32_t(r3.varint()); }
        else if (vf == 2) { expect(r3, vt, wire::kVarint); h.min_consumer = int32_t(r3.varint()); }
        else if (vf == 3) repeated_varint(r3, vt, h.bad_consumers);
        else r3.skip(vt);
      });
    } else {
      rr.skip(t);
    }
  });
  return h;
}

std::string encode_entry(const Entry& e) {
  wire::Writer w;
  if (e.dtype) w.varint_field(1, uint64_t(e.dtype));
  put_shape(w, e.shape, e.unknown_rank);
  if (e.shard_id) w.varint_field(3, uint64_t(e.shard_id));
  if (e.offset) w.varint_field(4, uint64_t(e.offset));
  if (e.size) w.varint_field(5, uint64_t(e.size));
  if (e.crc32c) { w.tag(6, wire::kFixed32); w.fixed32(e.crc32c); }
  for (const Slice& s : e.slices) {
    wire::Writer sw;
    for (const Extent& x : s) {
      wire::Writer xw;
      if (x.start) xw.varint_field(1, uint64_t(x.start));
      if (x.length >= 0) xw.varint_field(2, uint64_t(x.length));
      sw.bytes_field(1, xw.buffer().data(), xw.size());
    }
    w.bytes_field(7, sw.buffer().data(), sw.size());
  }
  return std::string(w.buffer().begin(), w.buffer().end());
}

std::string encode_header(const Header& h) {
  wire::Writer w, v;
  if (h.num_shards) w.varint_field(1, uint64_t(h.num_shards));
  if (h.endianness) w.varint_field(2, uint64_t(h.endianness));
  if (h.producer) v.varint_field(1, uint64_t(h.producer));
  if (h.min_consumer) v.varint_field(2, uint64_t(h.min_consumer));
  for (int32_t b : h.bad_consumers) v.varint_field(3, uint64_t(int64_t(b)));
  w.bytes_field(3, v.buffer().data(), v.size());
  return std::string(w.buffer().begin(), w.buffer().end());
}

}  // namespace tfforge::checkpoint
