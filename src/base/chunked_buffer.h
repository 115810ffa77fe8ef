// ChunkedBuffer: an append-only byte string kept as a list of fixed-size chunks, for building a
// large message (a 100 MB Range response) in place and handing the chunks to the transport
// without copying them again.
//
// Why not one std::string: a string that grows by doubling copies everything it holds on every
// growth and briefly holds old and new storage together (up to 3x the message at peak); a
// chunked buffer writes every byte once and never holds more than the bytes appended plus one
// partly filled chunk. The chunks are written in order and their concatenation is the content.
//
// Thread safety: a plain value (thread-compatible).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/check.h"

namespace etcdpp {

class ChunkedBuffer {
 public:
  // 1 MiB: large enough that per-chunk overhead (an allocation, an HTTP/2 queue entry) is noise
  // for 100 MB, small enough to stay well below glibc's mmap threshold once it has adapted.
  // The first chunk is not reserved up front but grows like a std::string, so a small response
  // (the common case) allocates about its own size.
  static constexpr size_t kDefaultChunkBytes = 1 << 20;

  explicit ChunkedBuffer(size_t chunk_bytes = kDefaultChunkBytes) : chunk_bytes_(chunk_bytes) {
    CHECK(chunk_bytes_ > 0);
  }

  // Appends bytes, filling the last chunk to chunk_bytes before starting a new one.
  void Append(std::string_view bytes) {
    size_ += bytes.size();
    while (!bytes.empty()) {
      if (chunks_.empty()) {
        chunks_.emplace_back();
      } else if (chunks_.back().size() == chunk_bytes_) {
        chunks_.emplace_back();
        chunks_.back().reserve(chunk_bytes_);
      }
      std::string& last = chunks_.back();
      size_t take = std::min(bytes.size(), chunk_bytes_ - last.size());
      last.append(bytes.data(), take);
      bytes.remove_prefix(take);
    }
  }

  // Overwrites bytes already appended at [offset, offset + bytes.size()) (e.g. a length prefix
  // reserved at the front and known only at the end). REQUIRES: the range lies in the content.
  void Overwrite(size_t offset, std::string_view bytes) {
    CHECK(offset + bytes.size() <= size_);
    size_t chunk = offset / chunk_bytes_;
    size_t at = offset % chunk_bytes_;
    while (!bytes.empty()) {
      std::string& c = chunks_[chunk];
      size_t take = std::min(bytes.size(), c.size() - at);
      std::memcpy(c.data() + at, bytes.data(), take);
      bytes.remove_prefix(take);
      ++chunk;
      at = 0;
    }
  }

  // Drops the content from `size` on (size ≤ this->size()). Frees emptied chunks.
  void Truncate(size_t size) {
    CHECK(size <= size_);
    size_ = size;
    size_t keep = (size + chunk_bytes_ - 1) / chunk_bytes_;
    chunks_.resize(keep);
    if (!chunks_.empty()) chunks_.back().resize(size - (keep - 1) * chunk_bytes_);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::vector<std::string>& chunks() const { return chunks_; }

  // The content as one string (tests, small messages).
  std::string ToString() const {
    std::string out;
    out.reserve(size_);
    for (const auto& c : chunks_) out += c;
    return out;
  }

  // Hands the chunks over (in order); the buffer is empty afterwards.
  std::vector<std::string> Release() && {
    std::vector<std::string> out = std::move(chunks_);
    chunks_.clear();
    size_ = 0;
    return out;
  }

 private:
  size_t chunk_bytes_;
  size_t size_ = 0;
  // Invariant: every chunk but the last holds exactly chunk_bytes_ bytes.
  std::vector<std::string> chunks_;
};

}  // namespace etcdpp
