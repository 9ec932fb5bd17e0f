// tcp backend, our side of each peer connection: connect, mutual challenge-response, send
// requests, turn WRITE_ACK/READ_RESP into completions, fail in-flight work and reconnect with backoff.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tcp_backend.h"

namespace fabric {

void TcpBackend::startConnect(OutPeer& peer, uint64_t nowNs) {
  FABRIC_ASSERT(peer.fd < 0 && peer.phase == OutPhase::Idle);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FABRIC_ASSERT(fd >= 0);
  setNonBlockingNoDelay(fd);
  peer.generation++;
  peer.key = outboundKey(peer.id, peer.generation);
  peer.fd = fd;
  peer.phase = OutPhase::Connecting;
  peer.deadlineNs = nowNs + kHandshakeTimeoutNs;
  peer.in.clear();
  peer.out = OutBuffer();
  if (peer.state.load() != PeerState::Unreachable) peer.state.store(PeerState::Connecting);
  peer.nicReads = false;
  epoll_event ev{};
  ev.events = peer.interest = EPOLLIN | EPOLLOUT;
  ev.data.u64 = peer.key;
  FABRIC_ASSERT(epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) == 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&peer.address), sizeof peer.address) != 0 && errno != EINPROGRESS)
    failPeerLocked(peer, std::string("connect: ") + strerror(errno), true, peerClosedErrno(errno));
}

void TcpBackend::failPeerLocked(OutPeer& peer, const std::string& why, bool retry, bool gone) {
  bool wasReady = peer.phase == OutPhase::Ready;
  peer.endpointGone = gone;
  ErrorKind kind = gone ? ErrorKind::Gone : ErrorKind::Unreachable;
  if (peer.fd >= 0) {
    epoll_ctl(epollFd_, EPOLL_CTL_DEL, peer.fd, nullptr);
    ::close(peer.fd);
    peer.fd = -1;
  }
  peer.key = 0;  // events already fetched for the old socket are now stale
  peer.phase = OutPhase::Idle;
  peer.in.clear();
  peer.out = OutBuffer();
  inFlight_.fetch_sub(int64_t(peer.pending.size()), std::memory_order_relaxed);
  for (auto& [wrId, op] : peer.pending) {
    if (op.silent) continue;
    bool isRead = op.isRead;
    // A sent write whose ack never came may or may not have landed: say so.
    complete(wrId, peer.id, isRead, kind,
             "connection to node " + std::to_string(peer.id) + " lost (" + why + ")" + (isRead ? "" : "; the write may have landed"));
  }
  peer.pending.clear();
  peer.bulkReads = 0;
  peer.state.store(PeerState::Unreachable);
  // Only the end of a working connection: a refused reconnect is no news, and would signal again at
  // every backoff step.
  if (gone && wasReady && peer.goneWatched) peerGone();
  if (retry && (wasReady || !peer.loggedFailure)) {
    logLine("node %d: connection to node %d at %s: %s%s", self_, peer.id, describeAddress(peer.address).c_str(), why.c_str(),
            retry ? "; retrying with backoff" : "");
    peer.loggedFailure = true;
  }
  if (retry) {
    if (wasReady) peer.backoffNs = kFirstBackoffNs;
    peer.retryAtNs = monotonicNs() + peer.backoffNs;
    peer.backoffNs = std::min(peer.backoffNs * 2, kMaxBackoffNs);
    wakeNic();
  }
}

bool TcpBackend::sendLocked(OutPeer& peer, const uint8_t* head, size_t headBytes, const uint8_t* body, size_t bodyBytes) {
  FABRIC_ASSERT(peer.fd >= 0);
  size_t total = headBytes + bodyBytes;
  size_t sent = 0;
  if (peer.out.empty()) {
    // Fast path: straight from the caller's buffers into the socket, no copy.
    iovec parts[2] = {{const_cast<uint8_t*>(head), headBytes}, {const_cast<uint8_t*>(body), bodyBytes}};
    msghdr msg{};
    msg.msg_iov = parts;
    msg.msg_iovlen = bodyBytes > 0 ? 2 : 1;
    ssize_t n;
    do n = sendmsg(peer.fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      failPeerLocked(peer, std::string("send: ") + strerror(errno), true, peerClosedErrno(errno));
      return false;
    }
    sent = n > 0 ? size_t(n) : 0;
    if (sent == total) return true;
  }
  // Queue the rest (never reorder: once anything is queued, everything after it is queued too).
  for (size_t i = sent; i < total; ) {
    if (i < headBytes) {
      peer.out.bytes.insert(peer.out.bytes.end(), head + i, head + headBytes);
      i = headBytes;
    } else {
      peer.out.bytes.insert(peer.out.bytes.end(), body + (i - headBytes), body + bodyBytes);
      i = total;
    }
  }
  updateInterestLocked(peer);
  return true;
}

void TcpBackend::updateInterestLocked(OutPeer& peer) {
  if (peer.fd < 0) return;
  uint32_t want;
  if (peer.phase == OutPhase::Connecting) want = EPOLLIN | EPOLLOUT;
  else if (peer.phase != OutPhase::Ready) want = EPOLLIN;
  // Ready: a closed or reset connection is reported without EPOLLIN (RDHUP, HUP, ERR).
  else want = EPOLLRDHUP | (peer.nicReads ? uint32_t(EPOLLIN) : 0u);
  if (!peer.out.empty()) want |= EPOLLOUT;
  if (want == peer.interest) return;
  peer.interest = want;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = peer.key;
  FABRIC_ASSERT(epoll_ctl(epollFd_, EPOLL_CTL_MOD, peer.fd, &ev) == 0);
}

void TcpBackend::onOutbound(uint64_t key, uint32_t events) {
  std::shared_ptr<OutPeer> entry = findPeer(outboundKeyPeer(key));
  if (!entry) return;
  std::lock_guard<std::mutex> lock(entry->mu);
  OutPeer& peer = *entry;
  if (peer.key != key || peer.fd < 0) return;  // stale event of a closed socket
  if (peer.phase == OutPhase::Connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(peer.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return failPeerLocked(peer, std::string("connect: ") + strerror(err), true, peerClosedErrno(err));
    peer.phase = OutPhase::AwaitHello;
  }
  std::string why;
  if (events & EPOLLOUT) {
    bool closed = false;
    if (!flushOut(peer.fd, peer.out, why, &closed)) return failPeerLocked(peer, why, true, closed);
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) readOutboundLocked(peer);
  if (peer.fd < 0) return;
  // The waiter this read was for has been woken (or was never there): the JS thread reads again.
  if (peer.nicReads && peer.bulkReads == 0 && !completions_.waiterArmed()) peer.nicReads = false;
  updateInterestLocked(peer);
}

void TcpBackend::readOutboundLocked(OutPeer& peer) {
  std::string why;
  bool closed = false;
  bool open = readAvailable(peer.fd, peer.in, why, &closed);
  size_t used = 0;
  while (peer.fd >= 0) {
    Frame frame;
    size_t consumed = 0;
    std::string reason;
    ParseResult r = parseFrame(peer.in.data() + used, peer.in.size() - used, frame, consumed, reason);
    if (r == ParseResult::NeedMore) break;
    if (r == ParseResult::Malformed) return failPeerLocked(peer, "malformed frame from the peer: " + reason, true);
    used += consumed;
    if (!handleOutboundFrame(peer, frame)) return;  // failed and reset the peer
  }
  if (peer.fd < 0) return;
  peer.in.consume(used);
  // A close during authentication is the peer rejecting our secret, not a peer that is gone.
  if (!open) failPeerLocked(peer, peer.phase == OutPhase::AwaitAuthOk ? why + " during authentication (wrong cluster secret?)" : why, true, closed && peer.phase != OutPhase::AwaitAuthOk);
}

bool TcpBackend::handleOutboundFrame(OutPeer& peer, const Frame& frame) {
  switch (peer.phase) {
    case OutPhase::AwaitHello: {
      if (frame.type != FrameType::Hello || frame.magic != kFrameMagic || frame.version != kFrameVersion) {
        failPeerLocked(peer, "the peer does not speak the fabric protocol", true);
        return false;
      }
      if (frame.cluster != cluster_ || frame.nodeId != peer.id) {
        failPeerLocked(peer, "the peer is node " + std::to_string(frame.nodeId) + " of cluster '" + frame.cluster + "'", true);
        return false;
      }
      peer.serverNonce = frame.nonce;
      randomNonce(peer.clientNonce);
      Digest mac = authMac(secret_, "client", cluster_, peer.id, self_, peer.serverNonce, peer.clientNonce);
      peer.scratch.clear();
      encodeAuth(peer.scratch, self_, peer.clientNonce, mac);
      peer.phase = OutPhase::AwaitAuthOk;
      return sendLocked(peer, peer.scratch.data(), peer.scratch.size(), nullptr, 0);
    }
    case OutPhase::AwaitAuthOk: {
      Digest expected = authMac(secret_, "server", cluster_, peer.id, self_, peer.serverNonce, peer.clientNonce);
      if (frame.type != FrameType::AuthOk || !constantTimeEqual(frame.mac.data(), expected.data(), expected.size())) {
        failPeerLocked(peer, "the peer failed authentication (wrong cluster secret?)", true);
        return false;
      }
      peer.phase = OutPhase::Ready;
      peer.endpointGone = false;
      peer.backoffNs = kFirstBackoffNs;
      peer.state.store(PeerState::Connected);
      if (peer.loggedFailure || peer.everConnected) logLine("node %d: connected to node %d", self_, peer.id);
      peer.everConnected = true;
      peer.loggedFailure = false;
      peer.nicReads = completions_.waiterArmed();
      return true;
    }
    case OutPhase::Ready: {
      bool isAck = frame.type == FrameType::WriteAck, isResp = frame.type == FrameType::ReadResp;
      auto it = peer.pending.find(frame.wrId);
      bool matches = it != peer.pending.end() && it->second.isRead == isResp &&
                     (!isResp || frame.status != ErrorKind::None || frame.length == it->second.length);
      if ((!isAck && !isResp) || !matches) {
        failPeerLocked(peer, "unexpected frame from the peer", true);
        return false;
      }
      if (isResp && it->second.length >= kBulkReadBytes) {
        FABRIC_ASSERT(peer.bulkReads > 0);
        peer.bulkReads--;
      }
      // Straight into the reader's buffer, before the completion is pushed: a bulk answer is never
      // copied twice, nor on the JS thread.
      if (isResp && frame.status == ErrorKind::None && frame.length > 0) memcpy(it->second.into, frame.data, frame.length);
      bool silent = it->second.silent;
      peer.pending.erase(it);
      inFlight_.fetch_sub(1, std::memory_order_relaxed);
      if (silent) return true;
      Completion c;
      c.wrId = frame.wrId;
      c.peerId = peer.id;
      c.isRead = isResp;
      c.error = frame.status;
      if (frame.status != ErrorKind::None) c.detail = std::string("node ") + std::to_string(peer.id) + " refused: " + errorKindName(frame.status);
      completions_.push(std::move(c));
      return true;
    }
    default:
      FABRIC_ASSERT(!"frame in a phase without a socket");
      return false;
  }
}

}  // namespace fabric
