// tcp backend: a native NIC thread per node. It accepts authenticated connections from peers and
// applies their WRITE/READ frames to local regions against the permission table (tcp_inbound.cc),
// and it drives this node's outbound connections: connect, authenticate, reconnect with backoff,
// and turn acks into completions (tcp_outbound.cc). The JS thread only sends request frames.
#pragma once
#include <errno.h>
#include <netinet/in.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "backend.h"
#include "herald.h"
#include "tcp_frames.h"

namespace fabric {

// Anonymous memory for a tcp region, page aligned and zeroed.
class HeapRegion : public RegionMemory {
 public:
  explicit HeapRegion(size_t bytes);
  ~HeapRegion() override;
  uint8_t* data() const override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  uint8_t* data_;
  size_t bytes_;
};

// Bytes queued for a non-blocking socket; `sent` of them already went out.
struct OutBuffer {
  std::vector<uint8_t> bytes;
  size_t sent = 0;
  bool empty() const { return sent == bytes.size(); }
};

// Bytes received and not yet parsed. Grows without zero-filling each read (the hot path reads a
// few dozen bytes at a time), and gives memory back after a large frame.
class InBuffer {
 public:
  uint8_t* data() { return storage_.data(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { consume(size_); }
  uint8_t* tail(size_t room) {
    if (storage_.size() < size_ + room) storage_.resize(size_ + room);
    return storage_.data() + size_;
  }
  void grew(size_t n) {
    FABRIC_ASSERT(size_ + n <= storage_.size());
    size_ += n;
  }
  void consume(size_t n) {
    FABRIC_ASSERT(n <= size_);
    if (n > 0 && n < size_) memmove(storage_.data(), storage_.data() + n, size_ - n);
    size_ -= n;
    if (size_ == 0 && storage_.size() > kKeepBytes) std::vector<uint8_t>(kKeepBytes).swap(storage_);
  }

 private:
  static constexpr size_t kKeepBytes = 1 << 20;
  std::vector<uint8_t> storage_;
  size_t size_ = 0;
};

enum class OutPhase { Idle, Connecting, AwaitHello, AwaitAuthOk, Ready };

// This node's connection to one peer (we write to / read from its memory).
struct OutPeer {
  PeerId id = kNoPeer;
  sockaddr_in address{};
  std::atomic<PeerState> state{PeerState::Connecting};

  std::mutex mu;  // guards everything below; taken by the JS thread (posts) and the NIC thread
  int fd = -1;
  uint64_t key = 0;  // epoll key of the current connection; events with another key are stale
  uint32_t interest = 0;  // the epoll events registered for fd
  // Ready only: whether the NIC thread reads answers (EPOLLIN). While a JS waiter is parked, or
  // while a bulk read is in flight (bulkReads): otherwise the JS thread reads small answers itself
  // when it polls (reapCompletions), as waking the NIC thread for every answer would cost a
  // scheduler hop per operation on a busy host.
  bool nicReads = false;
  // Reads in `pending` whose answer carries at least kBulkReadBytes. While any is in flight only the
  // NIC thread reads this socket: a JS poll must never spend the event loop receiving and copying
  // megabytes (a take-over reads whole logs), or the node's own heartbeat stalls behind it.
  uint32_t bulkReads = 0;
  uint32_t generation = 0;
  OutPhase phase = OutPhase::Idle;
  OutBuffer out;
  InBuffer in;
  struct PendingOp {
    bool isRead;
    uint32_t length;  // reads: the bytes the answer must carry
    uint8_t* into;    // reads: where they go (see Backend::postRead), copied by whichever thread parses
    bool silent = false;  // posted by the backend itself (an armed grant's box): no completion
  };
  std::unordered_map<uint64_t, PendingOp> pending;  // sent and not yet answered
  Nonce serverNonce{}, clientNonce{};
  uint64_t retryAtNs = 0;
  uint64_t backoffNs = 0;
  uint64_t deadlineNs = 0;
  bool everConnected = false;
  bool loggedFailure = false;
  // The last connection ended because the peer's host answered that nobody serves the fabric port
  // (refused, reset, closed by the peer): work posted until the next handshake fails as Gone.
  bool endpointGone = false;
  // watchPeerGone: a Ready connection that the peer's side closes or resets calls the peer-gone
  // notifier (the kernel closes a dead process's sockets; a cut link resets nothing).
  bool goneWatched = false;
  std::vector<uint8_t> scratch;
};

// A peer's connection to us (it writes to / reads from our memory). NIC thread only.
struct InConn {
  int fd = -1;
  uint64_t key = 0;
  std::string remote;  // "ip:port" for logs
  bool watchingOut = true;  // EPOLLOUT in the interest set (the HELLO is queued at accept)
  bool authenticated = false;
  // Authenticated as `peer`'s death herald (herald.h): it may send DEATH and nothing else.
  bool herald = false;
  PeerId peer = kNoPeer;
  Nonce serverNonce{};
  uint64_t deadlineNs = 0;
  InBuffer in;
  OutBuffer out;
};

struct TcpRegion {
  std::shared_ptr<HeapRegion> memory;
  PeerId holder = kNoPeer;
  bool watched = false;  // a landed write calls the remote-write notifier (watchRemoteWrites)
};

class TcpBackend : public Backend {
 public:
  explicit TcpBackend(const BackendOptions& options);
  ~TcpBackend() override;

  std::shared_ptr<RegionMemory> registerRegion(const std::string& name, size_t bytes) override;
  void connectPeer(PeerId peer, const std::string& host, int port) override;
  void disconnectPeer(PeerId peer) override;
  PeerState peerState(PeerId peer) override;
  void postWrite(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, const uint8_t* data, size_t length) override;
  void postRead(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, size_t length, uint8_t* into) override;
  void grantWrite(const std::string& region, PeerId peer) override;
  bool watchRemoteWrites(const std::string& region) override;
  bool watchPeerGone(PeerId peer, const std::string& region) override;
  bool armGrant(PeerId whenGone, const std::string& region, PeerId grantee, const std::string& boxRegion, uint64_t boxOffset,
                const uint8_t* box, size_t boxLength, double tag) override;
  void disarmGrant() override;
  PeerId writeHolder(const std::string& region) override;
  int listenPort() const override { return listenPort_; }
  int heraldPid() const override { return herald_ ? int(herald_->pid()) : 0; }
  bool heraldConnected(PeerId peer) override;
  void reapCompletions() override;
  void waiterArmed() override;
  void close() override;

  static constexpr uint64_t kHandshakeTimeoutNs = 2000000000ull;
  static constexpr uint64_t kFirstBackoffNs = 5000000ull;   // 5 ms: fail-over on tcp targets 10 ms
  static constexpr uint64_t kMaxBackoffNs = 500000000ull;  // 0.5 s
  // While a JS waiter is parked and requests are in flight, the NIC thread polls its sockets for
  // this long before sleeping in epoll_wait: the answer is usually one round trip away, and waking
  // from epoll_wait costs a scheduler hop on top of the TCP_NODELAY round trip.
  static constexpr uint64_t kBusyPollNs = 50000ull;  // 50 µs
  // Answers at least this big are read off the socket by the NIC thread only (see bulkReads).
  static constexpr size_t kBulkReadBytes = 256 * 1024;

 private:
  // NIC thread.
  void nicLoop();
  void drainWake();
  uint64_t runTimers(uint64_t nowNs);  // returns the next deadline
  // tcp_inbound.cc
  void acceptAll();
  void onInbound(uint64_t key, uint32_t events);
  bool handleInboundFrame(InConn& conn, const Frame& frame);
  // A herald said its node died: fail our connection to that node as Gone now, then make the grant
  // armed for that death, if any (NIC thread).
  void heraldReportsDeath(PeerId peer);
  void makeArmedGrant(PeerId gone);
  void applyWrite(InConn& conn, const Frame& frame);
  void serveRead(InConn& conn, const Frame& frame);
  void dropInbound(uint64_t key, const std::string& why);
  // tcp_outbound.cc
  void startConnect(OutPeer& peer, uint64_t nowNs);
  void onOutbound(uint64_t key, uint32_t events);
  bool handleOutboundFrame(OutPeer& peer, const Frame& frame);
  // Reads what the peer's socket holds and handles each whole frame (NIC thread or JS thread).
  void readOutboundLocked(OutPeer& peer);
  // Registers the epoll events the peer's phase, send queue and nicReads call for (if changed).
  void updateInterestLocked(OutPeer& peer);
  // Called after queueing a request: hands the answer to the NIC thread if JS will not read it
  // (a bulk read, or a waiter already parked that this request's answer must wake).
  void afterPostLocked(OutPeer& peer, bool bulk);
  // `gone`: the cause was the peer's host answering that nothing serves the port (see ErrorKind::Gone).
  void failPeerLocked(OutPeer& peer, const std::string& why, bool retry, bool gone = false);
  bool sendLocked(OutPeer& peer, const uint8_t* head, size_t headBytes, const uint8_t* body, size_t bodyBytes);
  std::shared_ptr<OutPeer> findPeer(PeerId peer);
  void postRequest(uint64_t wrId, PeerId peer, bool isRead, const uint8_t* body, size_t bodyBytes);
  // Queues a write on a Ready connection (under peer.mu). `silent`: the backend's own (an armed
  // grant's box): no completion, and the NIC thread reads its ack.
  void sendWriteLocked(OutPeer& peer, uint64_t wrId, const std::string& region, uint64_t offset, const uint8_t* data, size_t length, bool silent);
  void wakeNic();

  PeerId self_;
  std::string cluster_;
  std::string secret_;
  int listenFd_ = -1;
  int listenPort_ = 0;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::atomic<bool> stopping_{false};
  bool closed_ = false;
  std::thread nic_;
  // This node's death herald (null without one). Created and stopped on the JS thread.
  std::unique_ptr<HeraldProcess> herald_;
  // Peers whose herald holds an authenticated connection to us (changed by the NIC thread).
  std::mutex heraldsMu_;
  std::map<PeerId, int> heraldsConnected_;

  std::mutex tableMu_;  // the permission table: every applied write and every grant take it
  std::map<std::string, TcpRegion> regions_;

  // Backend::armGrant. Order: Backend::armMu_ before tableMu_, and before any OutPeer::mu.
  struct GrantArm {
    PeerId whenGone;
    PeerId grantee;
    std::string region;
    std::string boxRegion;
    uint64_t boxOffset;
    std::vector<uint8_t> bytes;
    double tag;
  };
  std::unique_ptr<GrantArm> arm_;  // under Backend::armMu_
  // Work-request ids of the backend's own writes: far above any the JS side hands out.
  std::atomic<uint64_t> nextSilentWrId_{uint64_t(1) << 62};

  std::mutex peersMu_;  // order: peersMu_ before OutPeer::mu
  std::unordered_map<PeerId, std::shared_ptr<OutPeer>> peers_;
  // Requests sent and not yet answered, over all peers (changed under the peer's mu).
  std::atomic<int64_t> inFlight_{0};

  void watchInbound(InConn& conn);
  // Makes room for one more unauthenticated connection: drops the oldest when at the cap.
  void capUnauthenticated();
  // Drops an unauthenticated connection, logging such drops at most once per interval.
  void dropUnauthenticated(uint64_t key, const char* why);
  std::unordered_map<uint64_t, InConn> inbound_;  // NIC thread only
  // Unauthenticated connections in inbound_ (NIC thread only). A peer authenticates within one
  // round trip, so a flood of connections that never do is cut at kMaxUnauthenticatedInbound,
  // oldest first: the process's descriptors stay free for clients and the real peers.
  size_t unauthenticatedInbound_ = 0;
  static constexpr size_t kMaxUnauthenticatedInbound = 64;
  uint64_t unauthenticatedDropped_ = 0;  // since the last log line about them
  uint64_t unauthenticatedLoggedNs_ = 0;
  static constexpr uint64_t kUnauthenticatedLogIntervalNs = 1000000000ull;
  std::unordered_map<PeerId, uint64_t> authFailureLoggedNs_;  // NIC thread only
  static constexpr uint64_t kAuthLogIntervalNs = 10000000000ull;
  uint64_t nextInboundId_ = 1;
};

// epoll keys: the top byte says what the key names.
constexpr uint64_t kKeyListen = 1ull << 56;
constexpr uint64_t kKeyWake = 2ull << 56;
constexpr uint64_t kKeyInbound = 3ull << 56;
constexpr uint64_t kKeyOutbound = 4ull << 56;
constexpr uint64_t kKeyKindMask = 0xffull << 56;
inline uint64_t outboundKey(PeerId peer, uint32_t generation) { return kKeyOutbound | (uint64_t(uint32_t(peer)) << 24) | (generation & 0xffffff); }
inline PeerId outboundKeyPeer(uint64_t key) { return PeerId((key >> 24) & 0xffffffff); }

// Socket helpers (tcp_socket.cc).
void setNonBlockingNoDelay(int fd);
// Reads everything available into `into`; false on EOF or error (with `why`, and `peerClosed` set
// when the peer's side closed or reset the connection).
bool readAvailable(int fd, InBuffer& into, std::string& why, bool* peerClosed = nullptr);
// Sends queued bytes; false on error (`peerClosed` as above). Leaves unsent bytes in `out`.
bool flushOut(int fd, OutBuffer& out, std::string& why, bool* peerClosed = nullptr);
// Whether a socket error means the peer's host answered that nothing serves the connection.
inline bool peerClosedErrno(int err) { return err == ECONNREFUSED || err == ECONNRESET || err == EPIPE; }
void randomNonce(Nonce& nonce);
std::string describeAddress(const sockaddr_in& address);

}  // namespace fabric
