// tcp backend, the NIC's serving side: accept peers, authenticate them (challenge-response over
// the cluster secret), then apply their WRITE frames and answer READ frames against the permission
// table. Malformed frames and failed authentication drop the connection with one log line.
#include <arpa/inet.h>
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tcp_backend.h"

namespace fabric {

namespace {
// length prefix, type, clientId, nonce, mac (tcp_frames.h)
constexpr size_t kAuthFrameBytes = kFrameLengthBytes + 1 + 4 + kNonceBytes + sizeof(Digest);
// Claimed node ids whose refusals are rate-limited in the log; the ids come from unauthenticated
// peers, so the table is bounded (when full it is cleared: only log rate limiting is lost).
constexpr size_t kMaxAuthLogEntries = 1024;
}  // namespace

void TcpBackend::acceptAll() {
  // Bounded per wake-up; the listening socket stays readable if more are waiting.
  for (int i = 0; i < 64; i++) {
    sockaddr_in remote{};
    socklen_t len = sizeof remote;
    int fd = accept4(listenFd_, reinterpret_cast<sockaddr*>(&remote), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        logLine("node %d: accept: %s", self_, strerror(errno));
      return;
    }
    setNonBlockingNoDelay(fd);
    capUnauthenticated();
    uint64_t key = kKeyInbound | nextInboundId_++;
    InConn& conn = inbound_[key];
    unauthenticatedInbound_++;
    conn.fd = fd;
    conn.key = key;
    conn.remote = describeAddress(remote);
    conn.deadlineNs = monotonicNs() + kHandshakeTimeoutNs;
    randomNonce(conn.serverNonce);
    encodeHello(conn.out.bytes, self_, cluster_, conn.serverNonce);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = key;
    FABRIC_ASSERT(epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) == 0);
  }
}

void TcpBackend::capUnauthenticated() {
  if (unauthenticatedInbound_ < kMaxUnauthenticatedInbound) return;
  uint64_t oldest = 0;
  uint64_t oldestDeadlineNs = UINT64_MAX;
  for (auto& [key, conn] : inbound_) {
    if (!conn.authenticated && conn.deadlineNs < oldestDeadlineNs) {
      oldest = key;
      oldestDeadlineNs = conn.deadlineNs;
    }
  }
  FABRIC_ASSERT(oldest != 0);  // the count says there are unauthenticated connections
  dropUnauthenticated(oldest, "too many connections that have not authenticated");
}

void TcpBackend::dropUnauthenticated(uint64_t key, const char* why) {
  dropInbound(key, "");
  // A flood of connections that never authenticate gets one line per second, not one per connection.
  unauthenticatedDropped_++;
  uint64_t now = monotonicNs();
  if (unauthenticatedLoggedNs_ == 0 || now - unauthenticatedLoggedNs_ >= kUnauthenticatedLogIntervalNs) {
    logLine("node %d: dropped %llu unauthenticated connection(s) since the last such line (latest: %s)",
            self_, static_cast<unsigned long long>(unauthenticatedDropped_), why);
    unauthenticatedLoggedNs_ = now;
    unauthenticatedDropped_ = 0;
  }
}

void TcpBackend::dropInbound(uint64_t key, const std::string& why) {
  auto it = inbound_.find(key);
  if (it == inbound_.end()) return;
  InConn& conn = it->second;
  if (!conn.authenticated) {
    FABRIC_ASSERT(unauthenticatedInbound_ > 0);
    unauthenticatedInbound_--;
  } else if (conn.herald) {
    std::lock_guard<std::mutex> lock(heraldsMu_);
    auto counted = heraldsConnected_.find(conn.peer);
    FABRIC_ASSERT(counted != heraldsConnected_.end() && counted->second > 0);
    if (--counted->second == 0) heraldsConnected_.erase(counted);
  }
  if (!why.empty()) {
    std::string who = conn.authenticated ? "node " + std::to_string(conn.peer) + " (" + conn.remote + ")" : conn.remote;
    logLine("node %d: dropped connection from %s: %s", self_, who.c_str(), why.c_str());
  }
  epoll_ctl(epollFd_, EPOLL_CTL_DEL, conn.fd, nullptr);
  ::close(conn.fd);
  inbound_.erase(it);
}

void TcpBackend::onInbound(uint64_t key, uint32_t events) {
  auto it = inbound_.find(key);
  if (it == inbound_.end()) return;
  InConn& conn = it->second;
  std::string why;
  bool open = true;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) open = readAvailable(conn.fd, conn.in, why);
  size_t used = 0;
  // Only whole frames are applied; a peer that dies mid-frame leaves its tail in `in`, discarded.
  for (;;) {
    Frame frame;
    size_t consumed = 0;
    std::string reason;
    ParseResult r = parseFrame(conn.in.data() + used, conn.in.size() - used, frame, consumed, reason);
    if (r == ParseResult::NeedMore) break;
    if (r == ParseResult::Malformed) return dropInbound(key, "malformed frame: " + reason);
    used += consumed;
    if (!handleInboundFrame(conn, frame)) return;  // dropped
  }
  // Before authentication the only acceptable frame is an AUTH, whose size is fixed: a longer
  // partial frame is refused now rather than buffered (up to kMaxBodyBytes) for an unknown peer.
  if (!conn.authenticated && conn.in.size() - used > kAuthFrameBytes) return dropInbound(key, "frame before authentication");
  conn.in.consume(used);
  if (!open) {
    // A clean close by an authenticated peer is routine (it restarted or disconnected).
    bool routine = conn.authenticated && why == "connection closed by peer";
    if (!conn.in.empty()) why += " in the middle of a frame; its partial frame was discarded";
    return dropInbound(key, routine && conn.in.empty() ? "" : why);
  }
  if (!flushOut(conn.fd, conn.out, why)) return dropInbound(key, why);
  watchInbound(conn);
}

void TcpBackend::watchInbound(InConn& conn) {
  // Only touch epoll when the interest set changes: the common case (answer sent whole) is free.
  bool wantOut = !conn.out.empty();
  if (wantOut == conn.watchingOut) return;
  conn.watchingOut = wantOut;
  epoll_event ev{};
  ev.events = wantOut ? EPOLLIN | EPOLLOUT : EPOLLIN;
  ev.data.u64 = conn.key;
  FABRIC_ASSERT(epoll_ctl(epollFd_, EPOLL_CTL_MOD, conn.fd, &ev) == 0);
}

bool TcpBackend::handleInboundFrame(InConn& conn, const Frame& frame) {
  if (!conn.authenticated) {
    if (frame.type != FrameType::Auth) {
      dropInbound(conn.key, "frame before authentication");
      return false;
    }
    Digest expected = authMac(secret_, "client", cluster_, self_, frame.nodeId, conn.serverNonce, frame.nonce);
    Digest asHerald = authMac(secret_, "herald", cluster_, self_, frame.nodeId, conn.serverNonce, frame.nonce);
    bool client = constantTimeEqual(frame.mac.data(), expected.data(), expected.size());
    bool herald = !client && constantTimeEqual(frame.mac.data(), asHerald.data(), asHerald.size());
    if (frame.nodeId < 1 || (!client && !herald)) {
      // A misconfigured peer retries with backoff forever: log its first refusal and then at most
      // one line per kAuthLogIntervalNs, not one per attempt.
      uint64_t now = monotonicNs();
      if (authFailureLoggedNs_.size() >= kMaxAuthLogEntries && !authFailureLoggedNs_.count(frame.nodeId)) authFailureLoggedNs_.clear();
      uint64_t& last = authFailureLoggedNs_[frame.nodeId];
      bool log = last == 0 || now - last >= kAuthLogIntervalNs;
      if (log) last = now;
      dropInbound(conn.key, log ? "authentication failed for claimed node " + std::to_string(frame.nodeId) + " (wrong cluster secret?)" : "");
      return false;
    }
    // A peer has one connection to us, and its herald one: a newer one replaces an older one.
    for (auto& [key, other] : inbound_) {
      if (key != conn.key && other.authenticated && other.peer == frame.nodeId && other.herald == herald) {
        dropInbound(key, "replaced by a newer connection from the same node");
        break;
      }
    }
    conn.authenticated = true;
    FABRIC_ASSERT(unauthenticatedInbound_ > 0);
    unauthenticatedInbound_--;
    conn.peer = frame.nodeId;
    conn.herald = herald;
    if (herald) {
      std::lock_guard<std::mutex> lock(heraldsMu_);
      heraldsConnected_[conn.peer]++;
    }
    Digest reply = authMac(secret_, "server", cluster_, self_, frame.nodeId, conn.serverNonce, frame.nonce);
    encodeAuthOk(conn.out.bytes, reply);
    return true;
  }
  if (conn.herald) {
    if (frame.type != FrameType::Death) {
      dropInbound(conn.key, "unexpected frame type " + std::to_string(int(frame.type)) + " from a herald");
      return false;
    }
    // The report first: whoever sees this connection close may rely on it having been acted on.
    heraldReportsDeath(conn.peer);
    dropInbound(conn.key, "");
    return false;  // dropped
  }
  switch (frame.type) {
    case FrameType::Write: applyWrite(conn, frame); return true;
    case FrameType::Read: serveRead(conn, frame); return true;
    default:
      dropInbound(conn.key, "unexpected frame type " + std::to_string(int(frame.type)));
      return false;
  }
}

bool TcpBackend::heraldConnected(PeerId peer) {
  std::lock_guard<std::mutex> lock(heraldsMu_);
  return heraldsConnected_.count(peer) > 0;
}

void TcpBackend::heraldReportsDeath(PeerId peer) {
  logLine("node %d: node %d's herald says its process died", self_, peer);
  std::shared_ptr<OutPeer> entry = findPeer(peer);
  if (!entry) return;
  {
    std::lock_guard<std::mutex> lock(entry->mu);
    // Gone, as when the kernel closes the dead process's sockets, only without waiting for its
    // teardown: work in flight fails, later work fails at once until a new incarnation answers.
    failPeerLocked(*entry, "its process died (its herald said so)", true, true);
  }
  makeArmedGrant(peer);
}

void TcpBackend::applyWrite(InConn& conn, const Frame& frame) {
  ErrorKind status = ErrorKind::None;
  bool watched = false;
  {
    std::lock_guard<std::mutex> lock(tableMu_);
    auto it = regions_.find(frame.region);
    if (it == regions_.end()) {
      status = ErrorKind::NoRegion;
    } else {
      RegionMemory& memory = *it->second.memory;
      if (frame.offset > memory.bytes() || frame.length > memory.bytes() - frame.offset) status = ErrorKind::Bounds;
      else if (it->second.holder != conn.peer) status = ErrorKind::Permission;
      else memcpy(memory.data() + frame.offset, frame.data, frame.length);
      watched = status == ErrorKind::None && it->second.watched;
    }
  }
  encodeWriteAck(conn.out.bytes, frame.wrId, status);
  if (watched) remoteWriteLanded();
}

void TcpBackend::serveRead(InConn& conn, const Frame& frame) {
  std::shared_ptr<HeapRegion> memory;
  ErrorKind status = ErrorKind::None;
  {
    std::lock_guard<std::mutex> lock(tableMu_);
    auto it = regions_.find(frame.region);
    if (it == regions_.end()) status = ErrorKind::NoRegion;
    else memory = it->second.memory;
  }
  if (memory && (frame.offset > memory->bytes() || frame.length > memory->bytes() - frame.offset)) status = ErrorKind::Bounds;
  uint32_t length = status == ErrorKind::None ? frame.length : 0;
  encodeReadRespHeader(conn.out.bytes, frame.wrId, status, length);
  // Like an RDMA READ, not atomic with respect to concurrent writes (Mu validates slots itself).
  if (length > 0) conn.out.bytes.insert(conn.out.bytes.end(), memory->data() + frame.offset, memory->data() + frame.offset + length);
}

}  // namespace fabric
