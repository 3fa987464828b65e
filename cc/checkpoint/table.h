// The sorted string table of a checkpoint's .index file (LevelDB's table format, as TensorFlow's
// tensorflow/core/lib/io/table* writes it):
//   data blocks | metaindex block | index block | footer (48 bytes)
// A block holds entries [varint shared][varint unshared][varint value length][key suffix][value],
// keys sharing a prefix with the previous key, then an array of uint32 restart offsets (entries whose
// key is stored whole) and their uint32 count. Every block is followed by a 5-byte trailer: a type
// byte (0 plain, 1 snappy) and the masked CRC32C of the block bytes and the type byte. The index block
// maps a key >= every key of a data block to that block's handle (varint offset, varint size); the
// footer holds the metaindex and index handles, zero padding to 40 bytes and the fixed64 magic.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wire/wire.h"

namespace tfforge::checkpoint {

struct TableEntry {
  std::string key;
  std::string value;
  uint64_t block_offset;  // file offset of the data block holding the entry, for error messages
};

// Reads every entry of the table in `file`, checking each block's CRC32C, the restart array and that
// keys strictly increase. Errors are tfforge::Error("CheckpointError") naming `path` and the offset.
std::vector<TableEntry> read_table(wire::Span file, const std::string& path);

// Builds a table (uncompressed blocks of ~256 KB, a restart point every 16 keys, as TensorFlow does)
// from entries sorted by key, strictly increasing.
std::vector<uint8_t> build_table(const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace tfforge::checkpoint
