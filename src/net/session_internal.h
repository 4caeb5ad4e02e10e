// Helpers shared by the session sources (session_*.cc). Internal to src/net.
#pragma once

#ifndef DSMIL_INTERNAL_NET
#error \
    "net/session_internal.h is internal to dsmil_net: include its public headers (a white-box test opts in with dsmil_white_box)"
#endif

#include <string_view>

#include "core/status.h"
#include "net/session.h"

namespace dsmil::net::session_internal {

const Clock& ClockOf(const SessionOptions& options);
// Counts the refusal in dsmil_dbe_session_refusals_total{peer,reason} and
// logs it (warn). `status` is a SessionRefusalStatus.
void RecordRefusal(const SessionOptions& options, std::string_view peer, SessionRefusal reason, const Status& status);

}  // namespace dsmil::net::session_internal
