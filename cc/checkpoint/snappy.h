// Snappy decompression, the one block compression a LevelDB-format table may use (type byte 1).
// TensorFlow writes checkpoint indexes uncompressed, but its table reader accepts snappy blocks, so
// tfforge does too. Raw snappy format: varint uncompressed length, then literal and copy elements.
#pragma once

#include <cstdint>
#include <vector>

#include "wire/wire.h"

namespace tfforge::checkpoint {

// Decompresses `in`; throws wire::ParseError (offset relative to `in`) on malformed input.
// The output is capped at `max_size` bytes, so a tiny input cannot claim gigabytes.
std::vector<uint8_t> snappy_uncompress(wire::Span in, size_t max_size);

}  // namespace tfforge::checkpoint
