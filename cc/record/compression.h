// Whole-stream compression of TFRecord files, as TensorFlow writes them: GZIP (gzip header, deflate)
// or ZLIB (zlib header, deflate). Shard names end in .gz / .zz.
#pragma once

#include <string>

namespace tfforge::record {

enum class Compression { kNone = 0, kGzip = 1, kZlib = 2 };

// "" / "none", "gzip", "zlib" (any case); throws tfforge::Error("SpecError") otherwise.
Compression parse_compression(const std::string& name);
const char* compression_name(Compression c);

}  // namespace tfforge::record
