// The byte-stream side of the QUIC wire format (quic.h, "Wire format"):
// reassembles what arrives on the connection's stream, in pieces of any size,
// into frames. Pure; no I/O. Used by quic.cc; public for tests and fuzzing.
#pragma once

#include <cstddef>
#include <vector>

#include "core/coding.h"
#include "core/status.h"

namespace dsmil::net {

class QuicFrameReader {
 public:
  // expect_preamble: the stream must start with kQuicPreamble (the listener's
  // side of a connection); false for the dialer's side.
  explicit QuicFrameReader(bool expect_preamble = false) : preamble_left_(expect_preamble ? 4 : 0) {}

  // Consumes `data`, the next bytes of the stream. Appends each frame that is
  // now complete to *frames (in order) and adds the number of preamble bytes
  // consumed to *preamble_bytes. DataLoss, naming the problem, for a wrong
  // preamble or a length over kMaxConnectionFrame; once failed, every later
  // call fails the same way and consumes nothing. Holds at most one
  // incomplete frame (the caller's flow control bounds it).
  Status Feed(ByteView data, std::vector<Bytes>* frames, size_t* preamble_bytes);

  // Bytes held for the incomplete frame at the end of the stream.
  size_t pending() const { return buf_.size() - pos_; }

 private:
  size_t preamble_left_;
  Bytes buf_;
  size_t pos_ = 0;
  Status error_;
};

}  // namespace dsmil::net
