// QUIC endpoints on ngtcp2 0.12 + GnuTLS. See quic.h for the wire format and
// the threading model; in short: one loop thread per endpoint owns the socket
// and every ngtcp2_conn / gnutls_session_t; user threads talk to it through
// QuicConn's mutex-guarded queues and the endpoint's eventfd.
#include "net/quic.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/coding.h"
#include "core/mutex.h"
#include "crypto/ossl.h"
#include "crypto/x509.h"
#include "net/quic_frame.h"
#include "net/revocation.h"
#include "net/tls.h"

namespace dsmil::net {
namespace {

constexpr size_t kServerCidLen = 16;
constexpr size_t kClientDcidLen = 18;
constexpr size_t kClientScidLen = 16;
constexpr size_t kMaxUdpPayload = 1452;
constexpr size_t kRecvBufferBytes = 65536;
constexpr int kMaxPacketsPerRead = 64;
constexpr int kMaxPacketsPerWrite = 256;
constexpr size_t kMaxWriteVecs = 16;
constexpr uint64_t kAppNoError = 0;
constexpr uint64_t kAppProtocolError = 1;

// TLS 1.3 only (QUIC), AEADs QUIC defines, the usual groups.
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE";

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * NGTCP2_SECONDS + uint64_t(ts.tv_nsec);
}

uint64_t ToNs(std::chrono::milliseconds ms) { return uint64_t(std::max<int64_t>(ms.count(), 0)) * NGTCP2_MILLISECONDS; }

std::string Errno(int err) { return std::strerror(err); }

std::string AddressText(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

bool IsIpLiteral(const std::string& s) {
  uint8_t buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string GnutlsError(int rv) { return gnutls_strerror(rv); }

Result<std::string> ReadWholeFile(const std::string& what, const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("quic: " + what + " file is not set");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string msg = "quic: cannot read " + what + " " + path + ": " + Errno(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::PermissionDenied(msg);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------
// Certificate credentials shared by every session of one endpoint.

struct Credentials {
  gnutls_certificate_credentials_t cred = nullptr;
  std::shared_ptr<RevocationList> revocation;  // null without QuicOptions::crl_file
  ~Credentials() {
    if (cred) gnutls_certificate_free_credentials(cred);
  }
};

Result<std::shared_ptr<Credentials>> LoadCredentials(const QuicOptions& options, bool server) {
  if (options.ca_file.empty()) return Status::InvalidArgument("quic: ca_file is not set");
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status::InvalidArgument("quic: a certificate needs both cert_file and key_file");
  }
  if (server && options.cert_file.empty()) {
    return Status::InvalidArgument("quic: a listener needs cert_file and key_file");
  }
  if (options.alpn.empty() || options.alpn.size() > 255) {
    return Status::InvalidArgument("quic: alpn must be 1..255 bytes, got " + std::to_string(options.alpn.size()));
  }
  if (options.max_send_buffer < kMaxConnectionFrame + 4) {
    return Status::InvalidArgument("quic: max_send_buffer " + std::to_string(options.max_send_buffer) +
                                   " is below one largest frame (" + std::to_string(kMaxConnectionFrame + 4) + ")");
  }
  if (options.receive_window < kMaxConnectionFrame + 4) {
    return Status::InvalidArgument("quic: receive_window " + std::to_string(options.receive_window) +
                                   " is below one largest frame (" + std::to_string(kMaxConnectionFrame + 4) + ")");
  }
  if (options.handshake_timeout.count() <= 0 || options.idle_timeout.count() <= 0 || options.initial_rtt.count() <= 0) {
    return Status::InvalidArgument("quic: handshake_timeout, idle_timeout and initial_rtt must be positive");
  }
  auto creds = std::make_shared<Credentials>();
  int rv = gnutls_certificate_allocate_credentials(&creds->cred);
  if (rv < 0) return Status::Internal("quic: gnutls_certificate_allocate_credentials: " + GnutlsError(rv));

  DSMIL_ASSIGN_OR_RETURN(std::string ca_pem, ReadWholeFile("CA", options.ca_file));
  gnutls_datum_t ca{reinterpret_cast<unsigned char*>(ca_pem.data()), static_cast<unsigned>(ca_pem.size())};
  rv = gnutls_certificate_set_x509_trust_mem(creds->cred, &ca, GNUTLS_X509_FMT_PEM);
  if (rv <= 0) {
    return Status::InvalidArgument("quic: no CA certificate in " + options.ca_file +
                                   (rv < 0 ? ": " + GnutlsError(rv) : std::string()));
  }
  if (!options.cert_file.empty()) {
    DSMIL_ASSIGN_OR_RETURN(std::string cert_pem, ReadWholeFile("certificate", options.cert_file));
    auto key = ReadPrivateKeyFile(options.key_file);
    if (!key.ok()) return key.status().WithContext("quic");
    std::string key_pem = std::move(*key);
    gnutls_datum_t cert{reinterpret_cast<unsigned char*>(cert_pem.data()), static_cast<unsigned>(cert_pem.size())};
    gnutls_datum_t keyd{reinterpret_cast<unsigned char*>(key_pem.data()), static_cast<unsigned>(key_pem.size())};
    rv = gnutls_certificate_set_x509_key_mem2(creds->cred, &cert, &keyd, GNUTLS_X509_FMT_PEM, nullptr, 0);
    crypto::SecureWipe(key_pem.data(), key_pem.size());
    if (rv < 0) {
      return Status::InvalidArgument("quic: cannot load certificate " + options.cert_file + " with key " +
                                     options.key_file + ": " + GnutlsError(rv));
    }
  }
  if (!options.crl_file.empty()) {
    auto list = RevocationList::Load(options.crl_file, options.ca_file);
    if (!list.ok()) return list.status().WithContext("quic");
    creds->revocation = std::move(*list);
  }
  return creds;
}

// ---------------------------------------------------------------------------
// One QUIC connection. Fields under "loop" belong to the endpoint's loop
// thread; fields under "shared" are guarded by mu.

class QuicEndpoint;

struct TxChunk {
  Bytes data;
  bool user = true;  // counts against max_send_buffer (the preamble does not)
};

enum class ConnState { kHandshake, kOpen, kClosed };

struct QuicConn {
  QuicEndpoint* ep = nullptr;
  bool server = false;

  // ---- loop
  ngtcp2_conn* conn = nullptr;
  gnutls_session_t session = nullptr;
  ngtcp2_crypto_conn_ref ref{};
  sockaddr_storage remote{};
  socklen_t remote_len = 0;
  std::string expected_name;  // client: the name the server certificate must carry
  int64_t stream_id = -1;
  std::deque<TxChunk> tx;  // queued or in flight, not yet acknowledged
  uint64_t tx_base = 0;    // stream offset of tx.front().data[0] (after the acked prefix)
  size_t write_chunk = 0;  // next byte to hand to ngtcp2: tx[write_chunk].data[write_off]
  size_t write_off = 0;
  uint64_t acked_user_bytes = 0;  // not yet subtracted from `buffered`
  QuicFrameReader reader;
  std::vector<std::string> cids;
  bool confirmed = false;
  bool verified = false;  // VerifyPeerCallback accepted the peer's certificate
  bool closing = false;
  bool finished = false;
  uint64_t close_deadline = 0;
  std::string verify_error;    // why we refused the peer's certificate
  std::string protocol_error;  // why the peer's bytes are not a valid stream
  std::string peer_cn;
  std::string describe;

  // ---- shared
  Mutex mu;
  CondVar cv;
  ConnState state DSMIL_GUARDED_BY(mu) = ConnState::kHandshake;
  Status close_status DSMIL_GUARDED_BY(mu);  // why kClosed
  bool close_requested DSMIL_GUARDED_BY(mu) = false;
  std::deque<Bytes> pending DSMIL_GUARDED_BY(mu);  // length-prefixed frames from Send, not yet in `tx`
  size_t buffered DSMIL_GUARDED_BY(mu) = 0;        // bytes of Send not yet acknowledged by the peer
  std::deque<Bytes> rx_frames DSMIL_GUARDED_BY(mu);
  uint64_t rx_unreported DSMIL_GUARDED_BY(mu) = 0;  // bytes Receive consumed, not yet credited to the peer
  std::string peer_name DSMIL_GUARDED_BY(mu);

  ~QuicConn() {
    if (conn) ngtcp2_conn_del(conn);
    if (session) gnutls_deinit(session);
  }
};

ngtcp2_conn* GetConn(ngtcp2_crypto_conn_ref* ref) { return static_cast<QuicConn*>(ref->user_data)->conn; }

// Verifies the peer certificate during the handshake: chain to the cluster
// CA, extended key usage, then the name.
int VerifyPeerCallback(gnutls_session_t session);

// ---------------------------------------------------------------------------

class QuicEndpoint {
 public:
  QuicEndpoint(bool server, int fd, const sockaddr_storage& local, socklen_t local_len, const QuicOptions& options,
               std::shared_ptr<Credentials> creds)
      : server_(server), fd_(fd), local_(local), local_len_(local_len), options_(options), creds_(std::move(creds)) {}

  ~QuicEndpoint() {
    if (thread_.joinable()) {
      {
        MutexLock lock(mu_);
        stop_ = true;
      }
      Wake();
      thread_.join();
    }
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (fd_ >= 0) ::close(fd_);
  }

  Status Start() {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return Status::Internal("quic: eventfd: " + Errno(errno));
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof(one));
    (void)n;
  }

  const QuicOptions& options() const { return options_; }
  RevocationList* revocation() const { return creds_->revocation.get(); }
  bool server() const { return server_; }
  uint16_t port() const {
    if (local_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&local_)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&local_)->sin6_port);
  }

  // Client: creates the one connection before Start().
  Result<std::shared_ptr<QuicConn>> NewClientConn(const sockaddr* remote, socklen_t remote_len,
                                                  const std::string& expected_name);

  // Listener side.
  Result<std::shared_ptr<QuicConn>> Accept(std::chrono::milliseconds timeout) {
    MutexLock lock(mu_);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (accept_queue_.empty() && !listener_closed_) {
      if (!accept_cv_.WaitUntil(mu_, deadline) && accept_queue_.empty()) break;
    }
    if (!accept_queue_.empty()) {
      auto c = std::move(accept_queue_.front());
      accept_queue_.pop_front();
      return c;
    }
    if (listener_closed_) return Status::Unavailable("quic: listener closed");
    return Status::DeadlineExceeded("quic: no connection within " + std::to_string(timeout.count()) + " ms");
  }

  void CloseListener() {
    std::deque<std::shared_ptr<QuicConn>> dropped;
    {
      MutexLock lock(mu_);
      if (listener_closed_) return;
      listener_closed_ = true;
      dropped.swap(accept_queue_);
    }
    accept_cv_.NotifyAll();
    for (auto& c : dropped) RequestClose(*c);
    Wake();
  }

  // Marks `c` for closing (its loop sends CONNECTION_CLOSE after the linger)
  // and wakes a blocked Receive.
  void RequestClose(QuicConn& c) {
    {
      MutexLock lock(c.mu);
      if (c.close_requested) return;
      c.close_requested = true;
      if (c.state != ConnState::kClosed) {
        c.state = ConnState::kClosed;
        c.close_status = Status::Unavailable("quic: connection closed");
      }
    }
    c.cv.NotifyAll();
    Wake();
  }

 private:
  friend int VerifyPeerCallback(gnutls_session_t session);
  static int OnHandshakeConfirmed(ngtcp2_conn* conn, void* user_data);
  static int OnStreamData(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t offset, const uint8_t* data,
                          size_t datalen, void* user_data, void* stream_user_data);
  static int OnAcked(ngtcp2_conn* conn, int64_t stream_id, uint64_t offset, uint64_t datalen, void* user_data,
                     void* stream_user_data);
  static int OnStreamOpen(ngtcp2_conn* conn, int64_t stream_id, void* user_data);
  static int OnStreamClose(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code,
                           void* user_data, void* stream_user_data);
  static int OnStreamReset(ngtcp2_conn* conn, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
                           void* user_data, void* stream_user_data);
  static void OnRand(uint8_t* dest, size_t destlen, const ngtcp2_rand_ctx* rand_ctx);
  static int OnNewConnectionId(ngtcp2_conn* conn, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void* user_data);
  static int OnRemoveConnectionId(ngtcp2_conn* conn, const ngtcp2_cid* cid, void* user_data);

  ngtcp2_callbacks Callbacks() const;
  void FillSettings(ngtcp2_settings* settings, ngtcp2_transport_params* params) const;
  Status SetUpSession(QuicConn& c);

  void Loop();
  void ReadPackets();
  void AcceptNew(const uint8_t* data, size_t len, const sockaddr* from, socklen_t from_len);
  void ProcessPacket(QuicConn& c, const uint8_t* data, size_t len, const sockaddr* from, socklen_t from_len);
  void TakeRequests(QuicConn& c, uint64_t now);
  void WritePackets(QuicConn& c, uint64_t now);
  void SendPacket(QuicConn& c, const ngtcp2_path& path, const uint8_t* data, size_t len);
  // Sends CONNECTION_CLOSE (application error `app_code`, or the transport
  // error for `liberr` when nonzero) and finishes.
  void CloseWith(QuicConn& c, uint64_t app_code, int liberr, const std::string& reason, Status status);
  // Ends `c` without sending anything; wakes its waiters with `status`.
  void Finish(QuicConn& c, Status status);
  Status HandshakeFailure(QuicConn& c, int liberr);
  void Established(QuicConn& c);
  void RemoveFinished();

  const bool server_;
  int fd_;
  sockaddr_storage local_;
  socklen_t local_len_;
  const QuicOptions options_;
  std::shared_ptr<Credentials> creds_;
  int wake_fd_ = -1;
  std::thread thread_;

  // loop
  std::vector<std::shared_ptr<QuicConn>> conns_;
  std::unordered_map<std::string, QuicConn*> by_cid_;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(kRecvBufferBytes);

  Mutex mu_;
  CondVar accept_cv_;
  std::deque<std::shared_ptr<QuicConn>> accept_queue_ DSMIL_GUARDED_BY(mu_);
  bool listener_closed_ DSMIL_GUARDED_BY(mu_) = false;
  bool stop_ DSMIL_GUARDED_BY(mu_) = false;
};

std::string CidKey(const uint8_t* data, size_t len) { return std::string(reinterpret_cast<const char*>(data), len); }

ngtcp2_callbacks QuicEndpoint::Callbacks() const {
  ngtcp2_callbacks cb;
  std::memset(&cb, 0, sizeof(cb));
  if (server_) {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.handshake_confirmed = OnHandshakeConfirmed;
  // A server's handshake is confirmed when it completes (RFC 9001 4.1.2);
  // ngtcp2 reports that through handshake_completed only.
  if (server_) cb.handshake_completed = OnHandshakeConfirmed;
  cb.recv_stream_data = OnStreamData;
  cb.acked_stream_data_offset = OnAcked;
  cb.stream_open = OnStreamOpen;
  cb.stream_close = OnStreamClose;
  cb.stream_reset = OnStreamReset;
  cb.rand = OnRand;
  cb.get_new_connection_id = OnNewConnectionId;
  cb.remove_connection_id = OnRemoveConnectionId;
  return cb;
}

void QuicEndpoint::FillSettings(ngtcp2_settings* settings, ngtcp2_transport_params* params) const {
  ngtcp2_settings_default(settings);
  settings->initial_ts = NowNs();
  settings->handshake_timeout = ToNs(options_.handshake_timeout);
  settings->max_tx_udp_payload_size = kMaxUdpPayload;
  // Until the first RTT sample, the pacer and the PTO use this estimate; the
  // RFC 9002 default (333 ms) would hold the client's second flight back
  // ~20 ms behind the pacer on a LAN.
  settings->initial_rtt = ToNs(options_.initial_rtt);
  ngtcp2_transport_params_default(params);
  uint64_t window = options_.receive_window;
  params->initial_max_stream_data_bidi_local = window;
  params->initial_max_stream_data_bidi_remote = window;
  params->initial_max_stream_data_uni = 0;
  params->initial_max_data = window;
  params->initial_max_streams_bidi = server_ ? 1 : 0;
  params->initial_max_streams_uni = 0;
  params->max_idle_timeout = ToNs(options_.idle_timeout);
  params->active_connection_id_limit = 4;
}

Status QuicEndpoint::SetUpSession(QuicConn& c) {
  unsigned flags = (server_ ? GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET : GNUTLS_CLIENT) | GNUTLS_NO_END_OF_EARLY_DATA;
  int rv = gnutls_init(&c.session, flags);
  if (rv < 0) return Status::Internal("quic: gnutls_init: " + GnutlsError(rv));
  rv = gnutls_priority_set_direct(c.session, kPriority, nullptr);
  if (rv < 0) return Status::Internal("quic: gnutls_priority_set_direct: " + GnutlsError(rv));
  if ((server_ ? ngtcp2_crypto_gnutls_configure_server_session(c.session)
               : ngtcp2_crypto_gnutls_configure_client_session(c.session)) != 0) {
    return Status::Internal("quic: configuring the GnuTLS session for QUIC failed");
  }
  c.ref.get_conn = GetConn;
  c.ref.user_data = &c;
  gnutls_session_set_ptr(c.session, &c.ref);
  rv = gnutls_credentials_set(c.session, GNUTLS_CRD_CERTIFICATE, creds_->cred);
  if (rv < 0) return Status::Internal("quic: gnutls_credentials_set: " + GnutlsError(rv));
  gnutls_session_set_verify_function(c.session, VerifyPeerCallback);
  if (server_) gnutls_certificate_server_set_request(c.session, GNUTLS_CERT_REQUIRE);
  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(options_.alpn.data())),
                      static_cast<unsigned>(options_.alpn.size())};
  rv = gnutls_alpn_set_protocols(c.session, &alpn, 1, server_ ? GNUTLS_ALPN_MANDATORY : 0);
  if (rv < 0) return Status::Internal("quic: gnutls_alpn_set_protocols: " + GnutlsError(rv));
  if (!server_ && !c.expected_name.empty() && !IsIpLiteral(c.expected_name)) {
    rv = gnutls_server_name_set(c.session, GNUTLS_NAME_DNS, c.expected_name.data(), c.expected_name.size());
    if (rv < 0) return Status::InvalidArgument("quic: bad server name " + c.expected_name + ": " + GnutlsError(rv));
  }
  return Status::Ok();
}

Result<std::shared_ptr<QuicConn>> QuicEndpoint::NewClientConn(const sockaddr* remote, socklen_t remote_len,
                                                              const std::string& expected_name) {
  auto c = std::make_shared<QuicConn>();
  c->ep = this;
  c->server = false;
  std::memcpy(&c->remote, remote, remote_len);
  c->remote_len = remote_len;
  c->expected_name = expected_name;
  c->describe = "quic " + AddressText(remote);
  DSMIL_RETURN_IF_ERROR(SetUpSession(*c));
  ngtcp2_cid dcid, scid;
  dcid.datalen = kClientDcidLen;
  scid.datalen = kClientScidLen;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 ||
      gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    return Status::Internal("quic: gnutls_rnd failed");
  }
  ngtcp2_path path{{reinterpret_cast<sockaddr*>(&local_), local_len_},
                   {reinterpret_cast<sockaddr*>(&c->remote), c->remote_len},
                   nullptr};
  ngtcp2_callbacks cb = Callbacks();
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  FillSettings(&settings, &params);
  int rv = ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, nullptr,
                                  c.get());
  if (rv != 0) return Status::Internal(std::string("quic: ngtcp2_conn_client_new: ") + ngtcp2_strerror(rv));
  ngtcp2_conn_set_tls_native_handle(c->conn, c->session);
  if (options_.keep_alive.count() > 0) ngtcp2_conn_set_keep_alive_timeout(c->conn, ToNs(options_.keep_alive));
  conns_.push_back(c);
  return c;
}

// ---- callbacks (loop thread)

int VerifyPeerCallback(gnutls_session_t session) {
  auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(session));
  auto* c = static_cast<QuicConn*>(ref->user_data);
  const char* who = c->server ? "client" : "server";
  auto fail = [&](std::string why) {
    c->verify_error = std::string(who) + " certificate refused: " + why;
    return GNUTLS_E_CERTIFICATE_ERROR;
  };
  unsigned count = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
  if (!certs || count == 0) return fail("no certificate presented");
  gnutls_typed_vdata_st purpose{};
  purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  purpose.data = reinterpret_cast<unsigned char*>(
      const_cast<char*>(c->server ? GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER));
  purpose.size = 0;
  unsigned status = 0;
  int rv = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
  if (rv < 0) return fail("verification failed: " + GnutlsError(rv));
  if (status != 0) {
    gnutls_datum_t out{};
    std::string text = "status " + std::to_string(status);
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
      text.assign(reinterpret_cast<const char*>(out.data), out.size);
      gnutls_free(out.data);
    }
    return fail("not issued by the cluster CA or not valid (" + text + ")");
  }
  gnutls_x509_crt_t crt;
  if (gnutls_x509_crt_init(&crt) < 0) return fail("out of memory");
  std::string cn, serial;
  rv = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
  if (rv >= 0) {
    char buf[256];
    size_t size = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0) cn.assign(buf, size);
    unsigned char raw[64];
    size = sizeof(raw);
    if (gnutls_x509_crt_get_serial(crt, raw, &size) >= 0) {
      auto hex = crypto::NormalizeSerialHex(ToHex(ByteView(raw, size)));
      if (hex.ok()) serial = *hex;
    }
  }
  bool name_ok = true;
  std::string wanted;
  if (rv >= 0 && !c->server && !c->expected_name.empty()) {
    wanted = c->expected_name;
    name_ok = cn == wanted || gnutls_x509_crt_check_hostname2(crt, wanted.c_str(), 0) != 0;
  } else if (rv >= 0 && c->server && !c->ep->options().peer_name.empty()) {
    wanted = c->ep->options().peer_name;
    name_ok = cn == wanted;
  }
  gnutls_x509_crt_deinit(crt);
  if (rv < 0) return fail("cannot parse it: " + GnutlsError(rv));
  if (!name_ok) return fail("it is for \"" + cn + "\", not \"" + wanted + "\"");
  if (RevocationList* revocation = c->ep->revocation(); revocation && revocation->IsRevoked(serial)) {
    revocation->LogRefused(c->server ? "dbe quic server" : "dbe quic client", cn, serial);
    return fail("\"" + cn + "\" is revoked (serial " + serial + ")");
  }
  c->peer_cn = cn;
  c->verified = true;
  return 0;
}

int QuicEndpoint::OnHandshakeConfirmed(ngtcp2_conn* conn, void* user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  c->confirmed = true;
  if (!c->server) {
    int64_t sid = -1;
    int rv = ngtcp2_conn_open_bidi_stream(conn, &sid, nullptr);
    if (rv != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    c->stream_id = sid;
    TxChunk preamble;
    preamble.data.assign(kQuicPreamble, kQuicPreamble + sizeof(kQuicPreamble));
    preamble.user = false;
    c->tx.push_front(std::move(preamble));
  }
  return 0;
}

int QuicEndpoint::OnStreamOpen(ngtcp2_conn* conn, int64_t stream_id, void* user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  if (c->stream_id < 0 && !ngtcp2_conn_is_local_stream(conn, stream_id)) c->stream_id = stream_id;
  return 0;
}

int QuicEndpoint::OnStreamData(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t offset,
                               const uint8_t* data, size_t datalen, void* user_data, void* stream_user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  if (!c->protocol_error.empty()) return 0;
  if (stream_id != c->stream_id) {
    c->protocol_error = "data on unexpected stream " + std::to_string(stream_id);
    return 0;
  }
  std::vector<Bytes> frames;
  size_t preamble = 0;
  Status st = c->reader.Feed(ByteView(data, datalen), &frames, &preamble);
  if (!st.ok()) {
    c->protocol_error = st.message().substr(std::min<size_t>(st.message().size(), 6));  // without "quic: "
    return 0;
  }
  if (preamble > 0) {  // not frame bytes: credit the window at once
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, preamble);
    ngtcp2_conn_extend_max_offset(conn, preamble);
  }
  if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) c->protocol_error = "peer ended the stream";
  if (frames.empty()) return 0;
  {
    MutexLock lock(c->mu);
    for (auto& f : frames) c->rx_frames.push_back(std::move(f));
  }
  c->cv.NotifyAll();
  return 0;
}

int QuicEndpoint::OnAcked(ngtcp2_conn* conn, int64_t stream_id, uint64_t offset, uint64_t datalen, void* user_data,
                          void* stream_user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  uint64_t acked_end = offset + datalen;
  while (!c->tx.empty() && c->write_chunk > 0 && c->tx_base + c->tx.front().data.size() <= acked_end) {
    if (c->tx.front().user) c->acked_user_bytes += c->tx.front().data.size();
    c->tx_base += c->tx.front().data.size();
    c->tx.pop_front();
    --c->write_chunk;
  }
  return 0;
}

int QuicEndpoint::OnStreamClose(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code,
                                void* user_data, void* stream_user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  if (stream_id == c->stream_id && c->protocol_error.empty()) c->protocol_error = "peer closed the stream";
  return 0;
}

int QuicEndpoint::OnStreamReset(ngtcp2_conn* conn, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
                                void* user_data, void* stream_user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  if (stream_id == c->stream_id && c->protocol_error.empty()) {
    c->protocol_error = "peer reset the stream (error " + std::to_string(app_error_code) + ")";
  }
  return 0;
}

void QuicEndpoint::OnRand(uint8_t* dest, size_t destlen, const ngtcp2_rand_ctx* rand_ctx) {
  (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, destlen);
}

int QuicEndpoint::OnNewConnectionId(ngtcp2_conn* conn, ngtcp2_cid* cid, uint8_t* token, size_t cidlen,
                                    void* user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0 ||
      gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) {
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  cid->datalen = cidlen;
  if (c->server) {
    std::string key = CidKey(cid->data, cid->datalen);
    c->ep->by_cid_[key] = c;
    c->cids.push_back(std::move(key));
  }
  return 0;
}

int QuicEndpoint::OnRemoveConnectionId(ngtcp2_conn* conn, const ngtcp2_cid* cid, void* user_data) {
  auto* c = static_cast<QuicConn*>(user_data);
  if (c->server) {
    std::string key = CidKey(cid->data, cid->datalen);
    auto it = c->ep->by_cid_.find(key);
    if (it != c->ep->by_cid_.end() && it->second == c) c->ep->by_cid_.erase(it);
  }
  return 0;
}

// ---- loop

void QuicEndpoint::Loop() {
  for (;;) {
    uint64_t now = NowNs();
    bool stop;
    {
      MutexLock lock(mu_);
      stop = stop_;
    }
    for (auto& c : conns_) {
      if (c->finished) continue;
      if (stop && !c->closing) {
        MutexLock lock(c->mu);
        c->close_requested = true;
      }
      TakeRequests(*c, now);
      if (c->finished) continue;
      uint64_t expiry = ngtcp2_conn_get_expiry(c->conn);
      if (expiry <= now) {
        int rv = ngtcp2_conn_handle_expiry(c->conn, now);
        if (rv == NGTCP2_ERR_IDLE_CLOSE) {
          Finish(*c, Status::Unavailable("quic: " + c->describe + ": idle timeout (no packets for " +
                                         std::to_string(options_.idle_timeout.count()) + " ms)"));
          continue;
        }
        if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
          Finish(*c, Status::DeadlineExceeded("quic: " + c->describe + ": handshake timed out after " +
                                              std::to_string(options_.handshake_timeout.count()) + " ms"));
          continue;
        }
        if (rv != 0) {
          CloseWith(*c, 0, rv, "", Status::Unavailable(std::string("quic: ") + ngtcp2_strerror(rv)));
          continue;
        }
      }
      WritePackets(*c, now);
    }
    RemoveFinished();
    if (stop && conns_.empty()) return;

    uint64_t next = std::numeric_limits<uint64_t>::max();
    now = NowNs();
    for (auto& c : conns_) {
      next = std::min<uint64_t>(next, ngtcp2_conn_get_expiry(c->conn));
      if (c->closing) next = std::min(next, c->close_deadline);
    }
    // Nanosecond timeouts: the pacer asks for waits of microseconds, which
    // poll()'s milliseconds would stretch into stalls.
    timespec ts{};
    timespec* timeout = nullptr;
    if (next != std::numeric_limits<uint64_t>::max()) {
      uint64_t delta = next > now ? std::min<uint64_t>(next - now, 60 * NGTCP2_SECONDS) : 0;
      ts.tv_sec = static_cast<time_t>(delta / NGTCP2_SECONDS);
      ts.tv_nsec = static_cast<long>(delta % NGTCP2_SECONDS);
      timeout = &ts;
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::ppoll(fds, 2, timeout, nullptr);
    if (n < 0 && errno != EINTR) {
      // Nothing sensible left to do but stop serving.
      for (auto& c : conns_) Finish(*c, Status::Unavailable("quic: poll: " + Errno(errno)));
      RemoveFinished();
      return;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
      uint64_t v;
      ssize_t r = ::read(wake_fd_, &v, sizeof(v));
      (void)r;
    }
    // POLLERR too: an ICMP error (peer port closed) is pending on the socket
    // until recvfrom reads it; polling again without reading would spin.
    if (n > 0 && (fds[0].revents & (POLLIN | POLLERR))) ReadPackets();
  }
}

void QuicEndpoint::ReadPackets() {
  for (int i = 0; i < kMaxPacketsPerRead; ++i) {
    sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    ssize_t n =
        ::recvfrom(fd_, rbuf_.data(), rbuf_.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      // EAGAIN: nothing more to read. ECONNREFUSED on the client's connected
      // socket: the peer's port is closed (ICMP port unreachable) — fail the
      // connection now instead of waiting for the handshake or idle timeout.
      if (errno == ECONNREFUSED && !server_ && !conns_.empty() && !conns_[0]->finished) {
        Finish(*conns_[0], Status::Unavailable("quic: connection refused by the peer (ICMP port unreachable)"));
      }
      return;
    }
    if (n == 0) continue;
    const uint8_t* data = rbuf_.data();
    size_t len = static_cast<size_t>(n);
    if (!server_) {
      if (!conns_.empty() && !conns_[0]->finished) {
        ProcessPacket(*conns_[0], data, len, reinterpret_cast<sockaddr*>(&from), from_len);
      }
      continue;
    }
    ngtcp2_version_cid vc;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, kServerCidLen);
    if (rv != 0) continue;  // includes version negotiation requests: we speak v1 only
    auto it = by_cid_.find(CidKey(vc.dcid, vc.dcidlen));
    if (it != by_cid_.end()) {
      if (!it->second->finished) ProcessPacket(*it->second, data, len, reinterpret_cast<sockaddr*>(&from), from_len);
      continue;
    }
    AcceptNew(data, len, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

void QuicEndpoint::AcceptNew(const uint8_t* data, size_t len, const sockaddr* from, socklen_t from_len) {
  {
    MutexLock lock(mu_);
    if (listener_closed_ || stop_) return;
  }
  if (conns_.size() >= options_.max_connections) return;
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, data, len) != 0) return;
  auto c = std::make_shared<QuicConn>();
  c->ep = this;
  c->server = true;
  std::memcpy(&c->remote, from, from_len);
  c->remote_len = from_len;
  c->describe = "quic " + AddressText(from);
  c->reader = QuicFrameReader(/*expect_preamble=*/true);
  if (!SetUpSession(*c).ok()) return;
  ngtcp2_cid scid;
  scid.datalen = kServerCidLen;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) return;
  ngtcp2_path path{{reinterpret_cast<sockaddr*>(&local_), local_len_},
                   {reinterpret_cast<sockaddr*>(&c->remote), c->remote_len},
                   nullptr};
  ngtcp2_callbacks cb = Callbacks();
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  FillSettings(&settings, &params);
  params.original_dcid = hd.dcid;
  if (ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, nullptr, c.get()) !=
      0) {
    return;
  }
  ngtcp2_conn_set_tls_native_handle(c->conn, c->session);
  if (options_.keep_alive.count() > 0) ngtcp2_conn_set_keep_alive_timeout(c->conn, ToNs(options_.keep_alive));
  for (const ngtcp2_cid* id : {&scid, &hd.dcid}) {
    std::string key = CidKey(id->data, id->datalen);
    by_cid_[key] = c.get();
    c->cids.push_back(std::move(key));
  }
  conns_.push_back(c);
  ProcessPacket(*c, data, len, from, from_len);
}

Status QuicEndpoint::HandshakeFailure(QuicConn& c, int liberr) {
  std::string where = "quic: " + c.describe + ": ";
  if (!c.verify_error.empty()) return Status::Unauthenticated(where + c.verify_error);
  ngtcp2_connection_close_error ccerr;
  ngtcp2_conn_get_connection_close_error(c.conn, &ccerr);
  std::string reason(reinterpret_cast<const char*>(ccerr.reason ? ccerr.reason : reinterpret_cast<const uint8_t*>("")),
                     ccerr.reasonlen);
  const char* peer = c.server ? "the client" : "the server";
  if (liberr == NGTCP2_ERR_DRAINING) {
    bool tls = ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT &&
               (ccerr.error_code & ~uint64_t(0xff)) == NGTCP2_CRYPTO_ERROR;
    std::string msg = where + peer + " refused the handshake";
    if (tls) {
      auto alert = static_cast<gnutls_alert_description_t>(ccerr.error_code & 0xff);
      const char* name = gnutls_alert_get_strname(alert);
      msg += ": TLS alert " + std::to_string(unsigned(alert)) + (name ? std::string(" (") + name + ")" : "");
    } else {
      msg += ": error " + std::to_string(ccerr.error_code);
    }
    if (!reason.empty()) msg += ": " + reason;
    return Status::Unauthenticated(msg);
  }
  int tls_err = ngtcp2_conn_get_tls_error(c.conn);
  if (liberr == NGTCP2_ERR_CRYPTO || tls_err != 0) {
    return Status::Unauthenticated(where + "TLS handshake failed: " +
                                   (tls_err != 0 ? GnutlsError(tls_err) : std::string(ngtcp2_strerror(liberr))));
  }
  return Status::Unavailable(where + "handshake failed: " + ngtcp2_strerror(liberr));
}

void QuicEndpoint::ProcessPacket(QuicConn& c, const uint8_t* data, size_t len, const sockaddr* from,
                                 socklen_t from_len) {
  ngtcp2_path path{
      {reinterpret_cast<sockaddr*>(&local_), local_len_}, {const_cast<sockaddr*>(from), from_len}, nullptr};
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(c.conn, &path, &pi, data, len, NowNs());
  if (rv != 0) {
    if (rv == NGTCP2_ERR_DRAINING) {
      if (!c.confirmed) {
        Finish(c, HandshakeFailure(c, rv));
      } else {
        ngtcp2_connection_close_error ccerr;
        ngtcp2_conn_get_connection_close_error(c.conn, &ccerr);
        std::string msg = "quic: " + c.describe + ": closed by peer";
        if (ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION &&
            ccerr.error_code == kAppProtocolError) {
          msg += " (it refused our stream)";
        }
        if (ccerr.reasonlen > 0)
          msg += ": " + std::string(reinterpret_cast<const char*>(ccerr.reason), ccerr.reasonlen);
        Finish(c, Status::Unavailable(msg));
      }
      return;
    }
    if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
      Finish(c, Status::Unavailable("quic: " + c.describe + ": connection dropped"));
      return;
    }
    if (!c.confirmed) {
      Status st = HandshakeFailure(c, rv);
      CloseWith(c, 0, rv, c.verify_error, st);
    } else {
      CloseWith(c, 0, rv, "", Status::Unavailable("quic: " + c.describe + ": " + ngtcp2_strerror(rv)));
    }
    return;
  }
  if (!c.protocol_error.empty()) {
    CloseWith(c, kAppProtocolError, 0, c.protocol_error,
              Status::DataLoss("quic: " + c.describe + ": " + c.protocol_error));
    return;
  }
  if (c.confirmed) {
    bool first;
    {
      MutexLock lock(c.mu);
      first = c.state == ConnState::kHandshake;
    }
    if (first) Established(c);
  }
}

void QuicEndpoint::Established(QuicConn& c) {
  std::string alpn_error;
  gnutls_datum_t selected{};
  if (!c.verified) {
    CloseWith(c, kAppProtocolError, 0, "peer certificate not verified",
              Status::Unauthenticated("quic: " + c.describe + ": the peer's certificate was not verified"));
    return;
  }
  if (gnutls_alpn_get_selected_protocol(c.session, &selected) != 0 ||
      std::string_view(reinterpret_cast<const char*>(selected.data), selected.size) != options_.alpn) {
    alpn_error = "no common ALPN (want " + options_.alpn + ")";
  }
  if (!alpn_error.empty()) {
    CloseWith(c, kAppProtocolError, 0, alpn_error, Status::Unauthenticated("quic: " + c.describe + ": " + alpn_error));
    return;
  }
  if (!c.peer_cn.empty()) c.describe += " (" + c.peer_cn + ")";
  {
    MutexLock lock(c.mu);
    if (c.state == ConnState::kHandshake) {
      c.state = ConnState::kOpen;
      c.peer_name = c.peer_cn;
    }
  }
  c.cv.NotifyAll();
  if (!server_) return;
  // Hand the connection to Accept, unless nobody will take it.
  std::shared_ptr<QuicConn> self;
  for (auto& p : conns_) {
    if (p.get() == &c) self = p;
  }
  bool queued = false;
  {
    MutexLock lock(mu_);
    if (!listener_closed_ && !stop_ && accept_queue_.size() < options_.accept_backlog) {
      accept_queue_.push_back(self);
      queued = true;
    }
  }
  if (queued) {
    accept_cv_.NotifyOne();
  } else {
    MutexLock lock(c.mu);
    c.close_requested = true;
  }
}

void QuicEndpoint::TakeRequests(QuicConn& c, uint64_t now) {
  std::deque<Bytes> pending;
  uint64_t unreported;
  bool close_requested;
  {
    MutexLock lock(c.mu);
    pending.swap(c.pending);
    unreported = c.rx_unreported;
    c.rx_unreported = 0;
    close_requested = c.close_requested;
    if (c.acked_user_bytes > 0) {
      c.buffered -= std::min<size_t>(c.buffered, c.acked_user_bytes);
      c.acked_user_bytes = 0;
    }
  }
  for (auto& f : pending) c.tx.push_back(TxChunk{std::move(f), true});
  if (unreported > 0 && c.stream_id >= 0) {
    ngtcp2_conn_extend_max_stream_offset(c.conn, c.stream_id, unreported);
    ngtcp2_conn_extend_max_offset(c.conn, unreported);
  }
  if (close_requested && !c.closing) {
    c.closing = true;
    c.close_deadline = now + ToNs(options_.close_linger);
  }
}

void QuicEndpoint::SendPacket(QuicConn& c, const ngtcp2_path& path, const uint8_t* data, size_t len) {
  for (;;) {
    ssize_t n =
        server_ ? ::sendto(fd_, data, len, 0, path.remote.addr, path.remote.addrlen) : ::send(fd_, data, len, 0);
    if (n >= 0 || errno != EINTR) return;  // a failed send is a lost packet; QUIC retransmits
  }
}

void QuicEndpoint::WritePackets(QuicConn& c, uint64_t now) {
  uint8_t buf[kMaxUdpPayload];
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  bool stream_blocked = false;
  for (int i = 0; i < kMaxPacketsPerWrite; ++i) {
    ngtcp2_vec vecs[kMaxWriteVecs];
    size_t nvec = 0;
    int64_t sid = -1;
    if (c.stream_id >= 0 && !stream_blocked && c.confirmed) {
      size_t idx = c.write_chunk;
      size_t off = c.write_off;
      while (idx < c.tx.size() && nvec < kMaxWriteVecs) {
        Bytes& d = c.tx[idx].data;
        vecs[nvec].base = d.data() + off;
        vecs[nvec].len = d.size() - off;
        ++nvec;
        ++idx;
        off = 0;
      }
      if (nvec > 0) sid = c.stream_id;
    }
    ngtcp2_ssize datalen = -1;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(c.conn, &ps.path, &pi, buf, sizeof(buf), &datalen,
                                               NGTCP2_WRITE_STREAM_FLAG_NONE, sid, nvec ? vecs : nullptr, nvec, now);
    if (n < 0) {
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
        stream_blocked = true;
        continue;
      }
      CloseWith(c, 0, static_cast<int>(n), "",
                Status::Unavailable("quic: " + c.describe + ": " + ngtcp2_strerror(static_cast<int>(n))));
      return;
    }
    if (datalen > 0) {
      size_t adv = static_cast<size_t>(datalen);
      while (adv > 0) {
        size_t room = c.tx[c.write_chunk].data.size() - c.write_off;
        size_t take = std::min(room, adv);
        c.write_off += take;
        adv -= take;
        if (c.write_off == c.tx[c.write_chunk].data.size()) {
          ++c.write_chunk;
          c.write_off = 0;
        }
      }
    }
    if (n == 0) break;  // nothing to send, or paced / cwnd-limited: the expiry or an ACK wakes us
    SendPacket(c, ps.path, buf, static_cast<size_t>(n));
  }
  ngtcp2_conn_update_pkt_tx_time(c.conn, now);
  if (c.closing) {
    if (c.tx.empty() || !c.confirmed || now >= c.close_deadline) {
      CloseWith(c, kAppNoError, 0, "", Status::Unavailable("quic: connection closed"));
    }
  }
}

void QuicEndpoint::CloseWith(QuicConn& c, uint64_t app_code, int liberr, const std::string& reason, Status status) {
  ngtcp2_connection_close_error ccerr;
  ngtcp2_connection_close_error_default(&ccerr);
  const auto* r = reinterpret_cast<const uint8_t*>(reason.data());
  size_t rlen = std::min<size_t>(reason.size(), 512);
  if (liberr != 0) {
    if (liberr == NGTCP2_ERR_CRYPTO || liberr == NGTCP2_ERR_CALLBACK_FAILURE) {
      uint8_t alert = ngtcp2_conn_get_tls_alert(c.conn);
      if (alert == 0) alert = c.verify_error.empty() ? GNUTLS_A_HANDSHAKE_FAILURE : GNUTLS_A_BAD_CERTIFICATE;
      ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, alert, r, rlen);
    } else {
      ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, r, rlen);
    }
  } else {
    ngtcp2_connection_close_error_set_application_error(&ccerr, app_code, r, rlen);
  }
  uint8_t buf[kMaxUdpPayload];
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c.conn, &ps.path, &pi, buf, sizeof(buf), &ccerr, NowNs());
  if (n > 0) SendPacket(c, ps.path, buf, static_cast<size_t>(n));
  Finish(c, std::move(status));
}

void QuicEndpoint::Finish(QuicConn& c, Status status) {
  if (c.finished) return;
  c.finished = true;
  {
    MutexLock lock(c.mu);
    if (c.state != ConnState::kClosed) {
      c.state = ConnState::kClosed;
      c.close_status = std::move(status);
    }
    c.pending.clear();
  }
  c.cv.NotifyAll();
}

void QuicEndpoint::RemoveFinished() {
  for (size_t i = 0; i < conns_.size();) {
    QuicConn& c = *conns_[i];
    if (!c.finished) {
      ++i;
      continue;
    }
    for (const auto& key : c.cids) {
      auto it = by_cid_.find(key);
      if (it != by_cid_.end() && it->second == &c) by_cid_.erase(it);
    }
    c.cids.clear();
    c.tx.clear();
    c.reader = QuicFrameReader();
    conns_[i] = std::move(conns_.back());
    conns_.pop_back();
  }
}

// ---------------------------------------------------------------------------

class QuicConnection final : public Connection {
 public:
  QuicConnection(std::shared_ptr<QuicEndpoint> ep, std::shared_ptr<QuicConn> c)
      : ep_(std::move(ep)), c_(std::move(c)), describe_(c_->describe) {
    MutexLock lock(c_->mu);
    peer_name_ = c_->peer_name;
    if (!peer_name_.empty() && describe_.find('(') == std::string::npos) describe_ += " (" + peer_name_ + ")";
  }
  ~QuicConnection() override { Close(); }

  Status Send(ByteView frame) override {
    if (frame.size() > kMaxConnectionFrame) {
      return Status::ResourceExhausted("quic: frame of " + std::to_string(frame.size()) +
                                       " bytes exceeds the limit of " + std::to_string(kMaxConnectionFrame));
    }
    Bytes wire;
    wire.reserve(frame.size() + 4);
    AppendU32BE(wire, static_cast<uint32_t>(frame.size()));
    wire.insert(wire.end(), frame.begin(), frame.end());
    {
      MutexLock lock(c_->mu);
      if (c_->state == ConnState::kClosed) return c_->close_status;
      if (c_->buffered + wire.size() > ep_->options().max_send_buffer) {
        return Status::ResourceExhausted("quic: " + describe_ + ": send buffer full (" + std::to_string(c_->buffered) +
                                         " bytes unacknowledged, limit " +
                                         std::to_string(ep_->options().max_send_buffer) + ")");
      }
      c_->buffered += wire.size();
      c_->pending.push_back(std::move(wire));
    }
    ep_->Wake();
    return Status::Ok();
  }

  Result<Bytes> Receive(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    Bytes out;
    bool wake = false;
    {
      MutexLock lock(c_->mu);
      for (;;) {
        if (c_->close_requested) return c_->close_status;
        if (!c_->rx_frames.empty()) break;
        if (c_->state == ConnState::kClosed) return c_->close_status;
        if (!c_->cv.WaitUntil(c_->mu, deadline) && c_->rx_frames.empty() && c_->state != ConnState::kClosed) {
          return Status::DeadlineExceeded("quic: no frame within " + std::to_string(timeout.count()) + " ms");
        }
      }
      out = std::move(c_->rx_frames.front());
      c_->rx_frames.pop_front();
      c_->rx_unreported += out.size() + 4;
      wake = c_->rx_unreported >= ep_->options().receive_window / 4;
    }
    if (wake) ep_->Wake();
    return out;
  }

  void Close() override { ep_->RequestClose(*c_); }
  std::string PeerName() const override { return peer_name_; }
  std::string Describe() const override { return describe_; }

 private:
  std::shared_ptr<QuicEndpoint> ep_;  // destroyed last: may join the loop thread
  std::shared_ptr<QuicConn> c_;
  std::string describe_;
  std::string peer_name_;
};

class QuicListener final : public Listener {
 public:
  explicit QuicListener(std::shared_ptr<QuicEndpoint> ep) : ep_(std::move(ep)) {}
  ~QuicListener() override { Close(); }

  Result<std::unique_ptr<Connection>> Accept(std::chrono::milliseconds timeout) override {
    DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<QuicConn> c, ep_->Accept(timeout));
    return std::unique_ptr<Connection>(std::make_unique<QuicConnection>(ep_, std::move(c)));
  }
  uint16_t port() const override { return ep_->port(); }
  void Close() override { ep_->CloseListener(); }

 private:
  std::shared_ptr<QuicEndpoint> ep_;
};

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

Result<std::unique_ptr<addrinfo, AddrInfoDeleter>> Resolve(const std::string& host, uint16_t port, bool passive) {
  if (host.empty()) return Status::InvalidArgument("quic: host is empty");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rv = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rv != 0 || !res) {
    return Status::Unavailable("quic: cannot resolve " + host + ": " + gai_strerror(rv));
  }
  return std::unique_ptr<addrinfo, AddrInfoDeleter>(res);
}

void TuneSocket(int fd) {
  int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
}

}  // namespace

Result<std::unique_ptr<Listener>> ListenQuic(const std::string& host, uint16_t port, const QuicOptions& options) {
  DSMIL_ASSIGN_OR_RETURN(auto creds, LoadCredentials(options, /*server=*/true));
  DSMIL_ASSIGN_OR_RETURN(auto ai, Resolve(host, port, /*passive=*/true));
  std::string last_error = "no address";
  for (addrinfo* rp = ai.get(); rp; rp = rp->ai_next) {
    int fd = ::socket(rp->ai_family, rp->ai_socktype | SOCK_CLOEXEC, rp->ai_protocol);
    if (fd < 0) {
      last_error = Errno(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, rp->ai_addr, rp->ai_addrlen) != 0) {
      last_error = Errno(errno);
      ::close(fd);
      continue;
    }
    TuneSocket(fd);
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
    auto ep = std::make_shared<QuicEndpoint>(true, fd, local, local_len, options, creds);
    DSMIL_RETURN_IF_ERROR(ep->Start());
    return std::unique_ptr<Listener>(std::make_unique<QuicListener>(std::move(ep)));
  }
  return Status::Unavailable("quic: cannot bind udp " + host + ":" + std::to_string(port) + ": " + last_error);
}

Result<std::unique_ptr<Connection>> DialQuic(const std::string& host, uint16_t port, const QuicOptions& options) {
  DSMIL_ASSIGN_OR_RETURN(auto creds, LoadCredentials(options, /*server=*/false));
  if (port == 0) return Status::InvalidArgument("quic: port 0 cannot be dialed");
  DSMIL_ASSIGN_OR_RETURN(auto ai, Resolve(host, port, /*passive=*/false));
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* rp = ai.get(); rp; rp = rp->ai_next) {
    fd = ::socket(rp->ai_family, rp->ai_socktype | SOCK_CLOEXEC, rp->ai_protocol);
    if (fd < 0) {
      last_error = Errno(errno);
      continue;
    }
    if (::connect(fd, rp->ai_addr, rp->ai_addrlen) != 0) {
      last_error = Errno(errno);
      ::close(fd);
      fd = -1;
      continue;
    }
    break;
  }
  if (fd < 0)
    return Status::Unavailable("quic: cannot reach udp " + host + ":" + std::to_string(port) + ": " + last_error);
  TuneSocket(fd);
  sockaddr_storage local{}, remote{};
  socklen_t local_len = sizeof(local), remote_len = sizeof(remote);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_len);
  auto ep = std::make_shared<QuicEndpoint>(false, fd, local, local_len, options, creds);
  std::string expected = options.server_name.empty() ? host : options.server_name;
  DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<QuicConn> c,
                         ep->NewClientConn(reinterpret_cast<sockaddr*>(&remote), remote_len, expected));
  // The loop thread appends the peer's name to c->describe when the handshake
  // completes, which may race with a timeout here: copy it before the loop starts.
  const std::string describe = c->describe;
  DSMIL_RETURN_IF_ERROR(ep->Start());
  ep->Wake();
  bool timed_out = false;
  {
    MutexLock lock(c->mu);
    // The loop enforces handshake_timeout; the extra second only guards against a stuck loop.
    auto deadline = std::chrono::steady_clock::now() + options.handshake_timeout + std::chrono::seconds(1);
    while (c->state == ConnState::kHandshake) {
      if (!c->cv.WaitUntil(c->mu, deadline)) break;
    }
    timed_out = c->state == ConnState::kHandshake;
    if (c->state == ConnState::kClosed) return c->close_status;
  }
  if (timed_out) {
    ep->RequestClose(*c);
    return Status::DeadlineExceeded("quic: " + describe + ": handshake timed out after " +
                                    std::to_string(options.handshake_timeout.count()) + " ms");
  }
  return std::unique_ptr<Connection>(std::make_unique<QuicConnection>(std::move(ep), std::move(c)));
}

}  // namespace dsmil::net
