// The worked byte example of docs/dbe.md §9 is what the codec writes: the hex
// is read from the document itself, so the page and the code cannot drift.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include "dbe/message.h"

namespace dsmil::dbe {
namespace {

// The bytes of the first code block after "## 9. Example": each line's leading
// two-digit hex tokens, up to the first token that is not one ("..." ends a
// truncated value). *truncated tells whether a line ended in "...".
Bytes DocumentedBytes(bool* truncated) {
  std::ifstream f(std::string(DSMIL_SOURCE_DIR) + "/docs/dbe.md");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string doc = ss.str();
  size_t at = doc.find("## 9. Example");
  EXPECT_NE(at, std::string::npos) << "docs/dbe.md has no section 9. Example";
  size_t open = doc.find("```\n", at);
  size_t close = doc.find("```", open + 4);
  std::istringstream block(doc.substr(open + 4, close - open - 4));
  Bytes out;
  *truncated = false;
  std::string line;
  while (std::getline(block, line)) {
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      if (w == "...") {
        *truncated = true;
        break;
      }
      if (w.size() != 2 || !std::isxdigit(static_cast<unsigned char>(w[0])) ||
          !std::isxdigit(static_cast<unsigned char>(w[1]))) {
        break;
      }
      out.push_back(uint8_t(std::stoi(w, nullptr, 16)));
    }
  }
  return out;
}

TEST(DocExample, ChatRequestBytesMatchTheDocument) {
  Message m(MsgType::kL7ChatReq);
  m.header().src_device = 43;
  m.header().dst_device = 47;
  m.header().sequence = 7;
  m.header().timestamp_ns = 1764245000000000000ull;
  m.SetString(TlvType::kTenantId, "ALPHA");
  m.SetString(TlvType::kRequestId, "r-01");
  m.SetU8(TlvType::kClassification, 3);
  m.SetString(TlvType::kPayload, R"({"prompt":"status?"})");
  auto frame = Encode(m);
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();

  bool truncated = false;
  Bytes doc = DocumentedBytes(&truncated);
  ASSERT_GT(doc.size(), 32u) << "no bytes found in docs/dbe.md §9";
  if (truncated) {
    ASSERT_LE(doc.size(), frame->size());
    EXPECT_EQ(ToHex(ByteView(frame->data(), doc.size())), ToHex(doc)) << "docs/dbe.md §9 differs from the codec";
  } else {
    EXPECT_EQ(ToHex(*frame), ToHex(doc)) << "docs/dbe.md §9 differs from the codec";
  }
  // And the documented frame decodes to the message it describes.
  auto back = Decode(*frame);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tenant_id(), "ALPHA");
  EXPECT_EQ(back->header().sequence, 7u);
}

}  // namespace
}  // namespace dsmil::dbe
