// The table key of one stored slice of a partitioned tensor, as TensorFlow's
// checkpoint::EncodeTensorNameSlice builds it with OrderedCode:
//   NumIncreasing(0) String(name) NumIncreasing(rank) then per dimension
//   SignedNumIncreasing(start) SignedNumIncreasing(length)   (length -1: the whole dimension)
// NumIncreasing(v): one length byte, then v big-endian without leading zero bytes.
// String(s): s with 0x00 -> 00 ff and 0xff -> ff 00, then the separator 00 01.
// SignedNumIncreasing(v): 1-10 bytes; leading bits equal to the sign bit count the extra bytes.
#pragma once

#include <string>

#include "checkpoint/bundle_proto.h"

namespace tfforge::checkpoint {

std::string slice_key(const std::string& name, const Slice& slice);

}  // namespace tfforge::checkpoint
