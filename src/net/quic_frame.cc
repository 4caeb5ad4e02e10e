#include "net/quic_frame.h"

#include <string>

#include "net/connection.h"
#include "net/quic.h"

namespace dsmil::net {

Status QuicFrameReader::Feed(ByteView data, std::vector<Bytes>* frames, size_t* preamble_bytes) {
  if (!error_.ok()) return error_;
  size_t skip = 0;
  while (preamble_left_ > 0 && skip < data.size()) {
    size_t index = sizeof(kQuicPreamble) - preamble_left_;
    if (data[skip] != static_cast<uint8_t>(kQuicPreamble[index])) {
      error_ = Status::DataLoss("quic: stream does not start with the DQF1 preamble (byte " + std::to_string(index) +
                                " is 0x" + ToHex(data.subspan(skip, 1)) + ")");
      return error_;
    }
    ++skip;
    --preamble_left_;
  }
  *preamble_bytes += skip;
  data = data.subspan(skip);
  buf_.insert(buf_.end(), data.begin(), data.end());
  for (;;) {
    size_t avail = buf_.size() - pos_;
    if (avail < 4) break;
    uint32_t len = GetU32BE(buf_.data() + pos_);
    if (len > kMaxConnectionFrame) {
      error_ = Status::DataLoss("quic: frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                                std::to_string(kMaxConnectionFrame));
      buf_.clear();
      pos_ = 0;
      return error_;
    }
    if (avail - 4 < len) {
      if (pos_ == 0) buf_.reserve(4 + size_t(len));
      break;
    }
    const uint8_t* p = buf_.data() + pos_ + 4;
    frames->emplace_back(p, p + len);
    pos_ += 4 + size_t(len);
  }
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 0) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  return Status::Ok();
}

}  // namespace dsmil::net
