// DBE v1 vs protobuf: encode + decode of a representative L7_CHAT_REQ
// (6 TLVs: TENANT_ID, REQUEST_ID, USER_ID, CLASSIFICATION, MODEL and a
// 512-byte PAYLOAD prompt), the same message as a protobuf message, in the
// same run, timed in alternating chunks (see Compare).
// Prints; never asserts.
//
// Usage: dbe_bench [iterations_per_repetition] [repetitions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chat.pb.h"
#include "dbe/message.h"

namespace {

using dsmil::Bytes;
using dsmil::ByteView;
namespace dbe = dsmil::dbe;

// Keeps results alive so the optimiser cannot drop the work.
volatile uint64_t g_sink = 0;

std::string Prompt() {
  std::string p = "{\"role\":\"user\",\"content\":\"";
  const char* text =
      "Summarise the anomalies in the last hour of NODE-A firewall logs, group them by source "
      "subnet, and rank them by severity with one line of rationale each. ";
  while (p.size() < 512 - 2) p += text;
  p.resize(512 - 2);
  p += "\"}";
  return p;
}

dbe::Message MakeDbeMessage(const std::string& prompt) {
  dbe::Message m(dbe::MsgType::kL7ChatReq);
  m.header().src_device = 43;
  m.header().dst_device = 47;
  m.header().sequence = 123456;
  m.header().timestamp_ns = 1764245000000000000ull;
  m.SetString(dbe::TlvType::kTenantId, "ALPHA")
      .SetString(dbe::TlvType::kRequestId, "chatcmpl-7f3a9c2e1b")
      .SetString(dbe::TlvType::kUserId, "operator@alpha.mil")
      .SetU8(dbe::TlvType::kClassification, uint8_t(dbe::Classification::kSecret))
      .SetString(dbe::TlvType::kModel, "dsmil-llama-7b-q4")
      .SetString(dbe::TlvType::kPayload, prompt);
  return m;
}

dsmil::bench::ChatRequest MakeProto(const std::string& prompt) {
  dsmil::bench::ChatRequest p;
  p.set_msg_type(0x41);
  p.set_flags(0);
  p.set_src_device(43);
  p.set_dst_device(47);
  p.set_sequence(123456);
  p.set_timestamp_ns(1764245000000000000ull);
  p.set_tenant_id("ALPHA");
  p.set_request_id("chatcmpl-7f3a9c2e1b");
  p.set_user_id("operator@alpha.mil");
  p.set_classification(3);
  p.set_model("dsmil-llama-7b-q4");
  p.set_payload(prompt);
  return p;
}

// Timing. Each sample times a chunk of kChunk calls. DBE and protobuf chunks
// alternate (A B A B ...), so both see the same machine conditions even on a
// busy, shared machine; each figure is the median over all its chunks, and
// the ratio is the median of the per-pair ratios.
constexpr int kChunk = 1000;

struct Pair {
  double a_ns;
  double b_ns;
  double ratio_b_over_a;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Fn>
double TimeChunk(Fn& fn) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kChunk; ++i) fn();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / kChunk;
}

template <typename FnA, typename FnB>
Pair Compare(int iters, int reps, FnA fa, FnB fb) {
  for (int i = 0; i < iters / 10 + 1; ++i) {  // warm up
    fa();
    fb();
  }
  std::vector<double> as, bs, ratios;
  int chunks = std::max(1, iters / kChunk);
  for (int r = 0; r < reps; ++r) {
    for (int c = 0; c < chunks; ++c) {
      double a = TimeChunk(fa);
      double b = TimeChunk(fb);
      as.push_back(a);
      bs.push_back(b);
      ratios.push_back(b / a);
    }
  }
  return Pair{Median(as), Median(bs), Median(ratios)};
}

void Die(const char* what) {
  std::fprintf(stderr, "dbe_bench: %s\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = argc > 1 ? std::atoi(argv[1]) : 200000;
  int reps = argc > 2 ? std::atoi(argv[2]) : 9;
  if (iters <= 0 || reps <= 0) Die("usage: dbe_bench [iterations] [repetitions]");

  const std::string prompt = Prompt();
  const dbe::Message msg = MakeDbeMessage(prompt);
  const dsmil::bench::ChatRequest proto = MakeProto(prompt);

  Bytes frame = dbe::Encode(msg).value();
  std::string proto_bytes = proto.SerializeAsString();
  std::printf("message: L7_CHAT_REQ, %zu TLVs, %zu-byte prompt\n", msg.tlv_count(), prompt.size());
  std::printf("encoded size: dbe %zu bytes, protobuf %zu bytes\n", frame.size(), proto_bytes.size());
  std::printf("timing: dbe and protobuf chunks of %d calls alternate; medians over %d x %d calls\n\n", kChunk, reps,
              iters);

  Bytes buf;
  buf.reserve(frame.size());
  dbe::MessageView view;
  std::string pbuf;
  dsmil::bench::ChatRequest parsed;

  auto dbe_encode = [&] {
    buf.clear();
    if (!dbe::EncodeTo(msg, &buf).ok()) Die("encode failed");
    g_sink = g_sink + buf.size();
  };
  auto pb_encode = [&] {
    pbuf.clear();
    if (!proto.SerializeToString(&pbuf)) Die("protobuf serialize failed");
    g_sink = g_sink + pbuf.size();
  };
  auto dbe_decode = [&] {
    if (!dbe::DecodeView(frame, &view).ok()) Die("decode failed");
    g_sink = g_sink + view.tlv_count() + view.tenant_id().size();
  };
  auto pb_decode = [&] {
    if (!parsed.ParseFromString(proto_bytes)) Die("protobuf parse failed");
    g_sink = g_sink + parsed.tenant_id().size();
  };
  // Fastest paths: reused buffers; DBE decodes into a zero-copy view,
  // protobuf into a reused message (its string fields keep their capacity).
  auto dbe_both = [&] {
    buf.clear();
    if (!dbe::EncodeTo(msg, &buf).ok()) Die("encode failed");
    if (!dbe::DecodeView(buf, &view).ok()) Die("decode failed");
    g_sink = g_sink + view.tlv_count() + view.tenant_id().size();
  };
  auto pb_both = [&] {
    pbuf.clear();
    if (!proto.SerializeToString(&pbuf)) Die("protobuf serialize failed");
    if (!parsed.ParseFromString(pbuf)) Die("protobuf parse failed");
    g_sink = g_sink + parsed.tenant_id().size();
  };
  // Owning paths: a fresh buffer per message, decoded into a fresh owning
  // object (dbe::Message / a new protobuf message).
  auto dbe_owned = [&] {
    dsmil::Result<Bytes> b = dbe::Encode(msg);
    if (!b.ok()) Die("encode failed");
    dsmil::Result<dbe::Message> m = dbe::Decode(*b);
    if (!m.ok()) Die("decode failed");
    g_sink = g_sink + m->tlv_count() + m->tenant_id().size();
  };
  auto pb_owned = [&] {
    std::string s = proto.SerializeAsString();
    dsmil::bench::ChatRequest p;
    if (!p.ParseFromString(s)) Die("protobuf parse failed");
    g_sink = g_sink + p.tenant_id().size();
  };

  Pair enc = Compare(iters, reps, dbe_encode, pb_encode);
  Pair dec = Compare(iters, reps, dbe_decode, pb_decode);
  Pair both = Compare(iters, reps, dbe_both, pb_both);
  Pair owned = Compare(iters, reps, dbe_owned, pb_owned);

  std::printf("%-34s %10s %10s %8s\n", "", "dbe ns", "pb ns", "pb/dbe");
  auto row = [](const char* name, const Pair& p) {
    std::printf("%-34s %10.1f %10.1f %7.1fx\n", name, p.a_ns, p.b_ns, p.ratio_b_over_a);
  };
  row("encode (reused buffer)", enc);
  row("decode (dbe view / pb reused msg)", dec);
  row("encode+decode (reused)", both);
  row("encode+decode (fresh, owning)", owned);
  std::printf("\n");
  std::printf("owning: dbe encode+decode: %.0f ns/msg; protobuf: %.0f ns/msg; ratio protobuf/dbe = %.1fx\n", owned.a_ns,
              owned.b_ns, owned.ratio_b_over_a);
  std::printf("dbe encode+decode: %.0f ns/msg; protobuf: %.0f ns/msg; ratio protobuf/dbe = %.1fx\n", both.a_ns,
              both.b_ns, both.ratio_b_over_a);
  google::protobuf::ShutdownProtobufLibrary();
  return g_sink == 0 ? 1 : 0;
}
