// What the L7 router does with a parsed L7_CHAT_REQ (0x41) before a worker
// sees it, the same for both entry points (the HTTP front and other
// devices): docs/l7.md §4, steps 1-4 and 6.
//
//   1-3. admission (admission.h: claim token, tenant policy, device 51's
//        prompt check) on the envelope's facts;
//        once admitted, the newest user message goes to SHRINK
//        (DeviceContext::operator_text; docs/shrink.md);
//   4.   when the request asks for RAG: the `rag_k` nearest passages of the
//        caller's own knowledge base from device 50, each passed through the
//        prompt check first (a flagged passage is left out, counted and
//        audited as RAG_PASSAGE_BLOCKED), added as a system message;
//   6.   when l7.enrichment names a device: its L8 enrichment (0x50 -> 0x51),
//        kept for the answer.
// Every refusal is recorded (recorder.h) before it is returned.
//
// Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "dbe/message.h"
#include "devices/device.h"
#include "devices/l7/admission.h"
#include "devices/l7/config.h"
#include "devices/l7/openai.h"
#include "devices/l7/recorder.h"

namespace dsmil::devices::l7 {

// What a request that passed every check gets.
struct Admitted {
  std::string request_id;
  std::string tenant;
  std::vector<std::string> collections;  // RAG collections read
  std::string enrichment;                // device 52's answer (JSON), "" = none
  std::string claim_token;               // the verified claim, passed on to the worker and device 50
  size_t rag_passages_blocked = 0;       // retrieved passages the detector flagged
};

// The admission facts of an envelope: TENANT_ID, REQUEST_ID (`request_id`
// when it has none), USER_ID (else "device:<source>"), L7_CLAIM_TOKEN,
// COMPARTMENT_MASK, ROE_LEVEL, and the prompt text of `chat`.
ChatFacts FactsOf(const dbe::Message& envelope, const ChatRequest& chat, const std::string& request_id, int64_t now_s);

class ChatPipeline {
 public:
  // Every argument must outlive the pipeline.
  ChatPipeline(const L7Config& config, const DeviceContext& ctx, const Admission& admission, Recorder& recorder,
               const Clock& clock)
      : config_(config), ctx_(ctx), admission_(admission), recorder_(recorder), clock_(clock) {}

  // Runs the steps above on `envelope` (the request's L7_CHAT_REQ) whose
  // PAYLOAD was parsed into `chat`; may add RAG context to `chat`. Fills *out
  // when admitted; otherwise returns the (recorded) refusal.
  std::optional<Refusal> Admit(const dbe::Message& envelope, ChatRequest& chat, Admitted* out);

 private:
  std::optional<Refusal> AddRagContext(ChatRequest& chat, const std::string& actor, Admitted* adm);
  void Enrich(const ChatRequest& chat, const std::string& prompt, Admitted* adm);

  const L7Config& config_;
  const DeviceContext& ctx_;
  const Admission& admission_;
  Recorder& recorder_;
  const Clock& clock_;
};

}  // namespace dsmil::devices::l7
