// A read-only memory map of a whole file; the kernel pages bytes in as passes touch them, so
// indexing a multi-gigabyte graph reads only the node headers, not the tensor payloads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "wire/wire.h"

namespace tfforge::graph {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  wire::Span span() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tfforge::graph
