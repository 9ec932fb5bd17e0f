// tcp backend: construction, the JS-thread API and the NIC thread's event loop.
#include "tcp_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace fabric {

HeapRegion::HeapRegion(size_t bytes) : bytes_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("tcp: cannot allocate region: ") + strerror(errno));
  data_ = static_cast<uint8_t*>(p);
}

HeapRegion::~HeapRegion() { munmap(data_, bytes_); }

// Work posted while the peer is not connected: Gone if its last connection ended with the peer's
// host answering that nothing serves the port (until a handshake succeeds again).
static ErrorKind notReadyKind(const OutPeer& peer) { return peer.endpointGone ? ErrorKind::Gone : ErrorKind::Unreachable; }

static sockaddr_in resolveIpv4(const std::string& host, int port) {
  if (port <= 0 || port > 65535) throw std::runtime_error("tcp: port " + std::to_string(port) + " out of range");
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found) throw std::runtime_error("tcp: cannot resolve '" + host + "': " + gai_strerror(rc));
  sockaddr_in address = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
  freeaddrinfo(found);
  address.sin_port = htons(uint16_t(port));
  return address;
}

TcpBackend::TcpBackend(const BackendOptions& options) : self_(options.selfId), cluster_(options.cluster), secret_(options.secret) {
  if (secret_.empty()) throw std::runtime_error("tcp fabric needs options.secret (the cluster secret shared by every node)");
  std::string host = options.listenHost.empty() ? "127.0.0.1" : options.listenHost;
  sockaddr_in address = resolveIpv4(host, options.listenPort == 0 ? 1 : options.listenPort);
  if (options.listenPort == 0) address.sin_port = 0;  // any free port; see listenPort()
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FABRIC_ASSERT(listenFd_ >= 0);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listenFd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listenFd_, 64) != 0) {
    int err = errno;
    ::close(listenFd_);
    throw std::runtime_error("tcp: cannot listen on " + describeAddress(address) + ": " + strerror(err));
  }
  socklen_t len = sizeof address;
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&address), &len);
  listenPort_ = ntohs(address.sin_port);
  setNonBlockingNoDelay(listenFd_);

  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  FABRIC_ASSERT(epollFd_ >= 0 && wakeFd_ >= 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kKeyListen;
  FABRIC_ASSERT(epoll_ctl(epollFd_, EPOLL_CTL_ADD, listenFd_, &ev) == 0);
  ev.data.u64 = kKeyWake;
  FABRIC_ASSERT(epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev) == 0);
  nic_ = std::thread([this] { nicLoop(); });
  if (!options.heraldPath.empty()) herald_ = std::make_unique<HeraldProcess>(options.heraldPath, self_, cluster_, secret_);
}

TcpBackend::~TcpBackend() { close(); }

std::shared_ptr<RegionMemory> TcpBackend::registerRegion(const std::string& name, size_t bytes) {
  std::lock_guard<std::mutex> lock(tableMu_);
  auto it = regions_.find(name);
  if (it != regions_.end()) {
    if (it->second.memory->bytes() != bytes)
      throw std::runtime_error("region '" + name + "' is already registered with " + std::to_string(it->second.memory->bytes()) + " bytes");
    return it->second.memory;
  }
  TcpRegion region;
  region.memory = std::make_shared<HeapRegion>(bytes);
  regions_[name] = region;
  return region.memory;
}

void TcpBackend::connectPeer(PeerId peer, const std::string& host, int port) {
  if (closed_) throw std::runtime_error("fabric is closed");
  sockaddr_in address = resolveIpv4(host.empty() ? "127.0.0.1" : host, port);
  {
    std::lock_guard<std::mutex> lock(peersMu_);
    auto it = peers_.find(peer);
    if (it != peers_.end()) {
      if (memcmp(&it->second->address, &address, sizeof address) == 0) return;
      throw std::runtime_error("tcp: node " + std::to_string(peer) + " is already connected at " + describeAddress(it->second->address) + "; disconnect it first");
    }
    auto entry = std::make_shared<OutPeer>();
    entry->id = peer;
    entry->address = address;
    entry->backoffNs = kFirstBackoffNs;
    peers_[peer] = entry;
  }
  if (herald_) herald_->addPeer(peer, address);
  wakeNic();
}

void TcpBackend::disconnectPeer(PeerId peer) {
  std::shared_ptr<OutPeer> entry;
  {
    std::lock_guard<std::mutex> lock(peersMu_);
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    entry = it->second;
    peers_.erase(it);
  }
  if (herald_) herald_->dropPeer(peer);
  std::lock_guard<std::mutex> lock(entry->mu);
  failPeerLocked(*entry, "disconnected", false);
}

PeerState TcpBackend::peerState(PeerId peer) {
  std::shared_ptr<OutPeer> entry = findPeer(peer);
  return entry ? entry->state.load() : PeerState::Unreachable;
}

std::shared_ptr<OutPeer> TcpBackend::findPeer(PeerId peer) {
  std::lock_guard<std::mutex> lock(peersMu_);
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : it->second;
}

void TcpBackend::postWrite(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, const uint8_t* data, size_t length) {
  if (length > kMaxPayloadBytes) {
    complete(wrId, peer, false, ErrorKind::Bounds, "tcp: one write carries at most " + std::to_string(kMaxPayloadBytes) + " bytes");
    return;
  }
  std::shared_ptr<OutPeer> entry = findPeer(peer);
  if (!entry) {
    complete(wrId, peer, false, ErrorKind::Unreachable, "node " + std::to_string(peer) + " is not connected");
    return;
  }
  std::lock_guard<std::mutex> lock(entry->mu);
  if (entry->phase != OutPhase::Ready) {
    complete(wrId, peer, false, notReadyKind(*entry), "node " + std::to_string(peer) + " is " + peerStateName(entry->state.load()));
    return;
  }
  sendWriteLocked(*entry, wrId, region, offset, data, length, false);
}

void TcpBackend::sendWriteLocked(OutPeer& peer, uint64_t wrId, const std::string& region, uint64_t offset, const uint8_t* data, size_t length,
                                 bool silent) {
  peer.scratch.clear();
  encodeWriteHeader(peer.scratch, wrId, region, offset, uint32_t(length));
  peer.pending.emplace(wrId, OutPeer::PendingOp{false, 0, nullptr, silent});
  inFlight_.fetch_add(1, std::memory_order_relaxed);
  // A silent write's ack is read by the NIC thread (as a bulk answer's), whether or not JS polls.
  if (sendLocked(peer, peer.scratch.data(), peer.scratch.size(), data, length)) afterPostLocked(peer, silent);
}

void TcpBackend::postRead(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, size_t length, uint8_t* into) {
  if (length > kMaxPayloadBytes) {
    complete(wrId, peer, true, ErrorKind::Bounds, "tcp: one read carries at most " + std::to_string(kMaxPayloadBytes) + " bytes");
    return;
  }
  std::shared_ptr<OutPeer> entry = findPeer(peer);
  if (!entry) {
    complete(wrId, peer, true, ErrorKind::Unreachable, "node " + std::to_string(peer) + " is not connected");
    return;
  }
  std::lock_guard<std::mutex> lock(entry->mu);
  if (entry->phase != OutPhase::Ready) {
    complete(wrId, peer, true, notReadyKind(*entry), "node " + std::to_string(peer) + " is " + peerStateName(entry->state.load()));
    return;
  }
  entry->scratch.clear();
  encodeRead(entry->scratch, wrId, region, offset, uint32_t(length));
  entry->pending.emplace(wrId, OutPeer::PendingOp{true, uint32_t(length), into});
  inFlight_.fetch_add(1, std::memory_order_relaxed);
  bool bulk = length >= kBulkReadBytes;
  if (bulk) entry->bulkReads++;
  if (sendLocked(*entry, entry->scratch.data(), entry->scratch.size(), nullptr, 0)) afterPostLocked(*entry, bulk);
}

void TcpBackend::afterPostLocked(OutPeer& peer, bool bulk) {
  if (peer.nicReads || peer.phase != OutPhase::Ready) return;
  // A waiter parked before this post armed EPOLLIN only on the peers that had requests then: without
  // this, its answer would wait for the waiter's timeout.
  if (!bulk && !completions_.waiterArmed()) return;
  peer.nicReads = true;
  updateInterestLocked(peer);
}

void TcpBackend::grantWrite(const std::string& region, PeerId peer) {
  // First: a grant the arm is making now finishes, and none is made after this one.
  disarmGrant();
  std::lock_guard<std::mutex> lock(tableMu_);
  auto it = regions_.find(region);
  if (it == regions_.end()) throw std::runtime_error("no local region named '" + region + "'");
  // The NIC thread applies each write while holding tableMu_: after this returns, none from the
  // previous holder can land.
  it->second.holder = peer;
}

bool TcpBackend::watchRemoteWrites(const std::string& region) {
  std::lock_guard<std::mutex> lock(tableMu_);
  auto it = regions_.find(region);
  if (it == regions_.end()) throw std::runtime_error("no local region named '" + region + "'");
  it->second.watched = true;
  return true;
}

bool TcpBackend::watchPeerGone(PeerId peer, const std::string&) {
  std::shared_ptr<OutPeer> entry = findPeer(peer);
  if (!entry) throw std::runtime_error("watchPeerGone: node " + std::to_string(peer) + " is not connected");
  std::lock_guard<std::mutex> lock(entry->mu);
  entry->goneWatched = true;
  return true;
}

bool TcpBackend::armGrant(PeerId whenGone, const std::string& region, PeerId grantee, const std::string& boxRegion, uint64_t boxOffset,
                          const uint8_t* box, size_t boxLength, double tag) {
  {
    std::lock_guard<std::mutex> lock(tableMu_);
    if (regions_.count(region) == 0) throw std::runtime_error("armGrant: no local region named '" + region + "'");
  }
  if (!findPeer(whenGone)) throw std::runtime_error("armGrant: node " + std::to_string(whenGone) + " is not connected");
  if (boxLength > kMaxPayloadBytes) throw std::runtime_error("armGrant: the box is too large");
  // Made on the herald's word only (heraldReportsDeath): a closed connection may be a peer that
  // restarted, which the JS side tells from its reads. Without the grantee connected the box could
  // not go out: the JS side then grants itself.
  bool armed = findPeer(grantee) != nullptr;
  std::lock_guard<std::mutex> guard(armMu_);
  arm_ = armed ? std::make_unique<GrantArm>(GrantArm{whenGone, grantee, region, boxRegion, boxOffset, std::vector<uint8_t>(box, box + boxLength), tag})
               : nullptr;
  return armed;
}

void TcpBackend::disarmGrant() {
  std::lock_guard<std::mutex> guard(armMu_);
  arm_.reset();
}

void TcpBackend::makeArmedGrant(PeerId gone) {
  std::unique_ptr<GrantArm> arm;
  {
    std::lock_guard<std::mutex> guard(armMu_);
    if (!arm_ || arm_->whenGone != gone) return;
    arm = std::move(arm_);
    {
      std::lock_guard<std::mutex> lock(tableMu_);
      auto it = regions_.find(arm->region);
      if (it == regions_.end() || it->second.holder != gone) return;
      it->second.holder = arm->grantee;
    }
    armedGrants_.push_back(ArmedGrant{gone, arm->grantee, arm->region, arm->tag});
  }
  // The box goes as a write of the backend's own, with no completion: if it cannot go now, the JS
  // side, told of the grant (takeArmedGrants after the peer-gone signal), sends it itself.
  std::shared_ptr<OutPeer> entry = findPeer(arm->grantee);
  if (!entry) return;
  std::lock_guard<std::mutex> lock(entry->mu);
  if (entry->phase != OutPhase::Ready) return;
  uint64_t wrId = nextSilentWrId_.fetch_add(1, std::memory_order_relaxed);
  sendWriteLocked(*entry, wrId, arm->boxRegion, arm->boxOffset, arm->bytes.data(), arm->bytes.size(), true);
}

PeerId TcpBackend::writeHolder(const std::string& region) {
  std::lock_guard<std::mutex> lock(tableMu_);
  auto it = regions_.find(region);
  if (it == regions_.end()) throw std::runtime_error("no local region named '" + region + "'");
  return it->second.holder;
}

void TcpBackend::reapCompletions() {
  if (inFlight_.load(std::memory_order_relaxed) <= 0) return;
  std::lock_guard<std::mutex> lock(peersMu_);
  for (auto& [id, entry] : peers_) {
    // try_lock: if the NIC thread holds the peer it is reading that socket already.
    std::unique_lock<std::mutex> peerLock(entry->mu, std::try_to_lock);
    // A bulk answer is the NIC thread's to read (OutPeer::bulkReads).
    if (!peerLock.owns_lock() || entry->phase != OutPhase::Ready || entry->pending.empty() || entry->bulkReads > 0) continue;
    readOutboundLocked(*entry);
  }
}

void TcpBackend::waiterArmed() {
  if (inFlight_.load(std::memory_order_relaxed) <= 0) return;
  std::lock_guard<std::mutex> lock(peersMu_);
  for (auto& [id, entry] : peers_) {
    std::lock_guard<std::mutex> peerLock(entry->mu);
    if (entry->phase != OutPhase::Ready || entry->pending.empty() || entry->nicReads) continue;
    // Armed first, then EPOLLIN: an answer already in the socket is reported at once (level
    // triggered), one arriving later wakes the NIC thread, which wakes the waiter.
    entry->nicReads = true;
    updateInterestLocked(*entry);
  }
}

void TcpBackend::wakeNic() {
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof one);
  (void)n;  // EAGAIN means a wake is already pending, which is enough
}

void TcpBackend::close() {
  if (closed_) return;
  closed_ = true;
  disarmGrant();
  // First: a clean close, not a death, so the herald exits without telling the peers anything.
  if (herald_) herald_->stop();
  stopping_.store(true);
  wakeNic();
  if (nic_.joinable()) nic_.join();
  std::unordered_map<PeerId, std::shared_ptr<OutPeer>> peers;
  {
    std::lock_guard<std::mutex> lock(peersMu_);
    peers.swap(peers_);
  }
  for (auto& [id, entry] : peers) {
    std::lock_guard<std::mutex> lock(entry->mu);
    failPeerLocked(*entry, "fabric closed", false);
  }
  for (auto& [key, conn] : inbound_) ::close(conn.fd);
  inbound_.clear();
  {
    std::lock_guard<std::mutex> lock(heraldsMu_);
    heraldsConnected_.clear();
  }
  unauthenticatedInbound_ = 0;
  ::close(listenFd_);
  ::close(wakeFd_);
  ::close(epollFd_);
}

void TcpBackend::drainWake() {
  uint64_t count;
  while (read(wakeFd_, &count, sizeof count) > 0) {
  }
}

void TcpBackend::nicLoop() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!stopping_.load()) {
    uint64_t now = monotonicNs();
    uint64_t next = runTimers(now);
    // Bounded so stopping_ and timers are re-checked even if a wake were lost.
    int timeoutMs = next <= now ? 0 : int(std::min<uint64_t>((next - now) / 1000000 + 1, 100));
    int n = 0;
    if (timeoutMs > 0 && inFlight_.load(std::memory_order_relaxed) > 0 && completions_.waiterArmed()) {
      // Bounded busy-poll (kBusyPollNs); a spinning JS poll reaps by itself and is not armed.
      uint64_t until = now + kBusyPollNs;
      for (int spin = 0; spin < 100000 && n == 0 && !stopping_.load(std::memory_order_relaxed); spin++) {
        n = epoll_wait(epollFd_, events, kMaxEvents, 0);
        if (n != 0 || monotonicNs() >= until || !completions_.waiterArmed()) break;
      }
    }
    if (n == 0) n = epoll_wait(epollFd_, events, kMaxEvents, timeoutMs);
    if (n < 0) {
      FABRIC_ASSERT(errno == EINTR);
      continue;
    }
    for (int i = 0; i < n; i++) {
      uint64_t key = events[i].data.u64;
      switch (key & kKeyKindMask) {
        case kKeyListen: acceptAll(); break;
        case kKeyWake: drainWake(); break;
        case kKeyInbound: onInbound(key, events[i].events); break;
        case kKeyOutbound: onOutbound(key, events[i].events); break;
        default: FABRIC_ASSERT(!"unknown epoll key");
      }
    }
  }
}

uint64_t TcpBackend::runTimers(uint64_t nowNs) {
  uint64_t next = nowNs + 100000000ull;
  std::vector<std::shared_ptr<OutPeer>> peers;
  {
    std::lock_guard<std::mutex> lock(peersMu_);
    for (auto& [id, entry] : peers_) peers.push_back(entry);
  }
  for (auto& entry : peers) {
    std::lock_guard<std::mutex> lock(entry->mu);
    if (entry->phase == OutPhase::Idle) {
      if (entry->retryAtNs <= nowNs) startConnect(*entry, nowNs);
      else next = std::min(next, entry->retryAtNs);
    }
    if (entry->phase != OutPhase::Idle && entry->phase != OutPhase::Ready) {
      if (entry->deadlineNs <= nowNs) failPeerLocked(*entry, "handshake timed out", true);
      next = std::min(next, entry->phase == OutPhase::Idle ? entry->retryAtNs : entry->deadlineNs);
    }
  }
  std::vector<uint64_t> expired;
  for (auto& [key, conn] : inbound_) {
    if (conn.authenticated) continue;
    if (conn.deadlineNs <= nowNs) expired.push_back(key);
    else next = std::min(next, conn.deadlineNs);
  }
  for (uint64_t key : expired) dropUnauthenticated(key, "did not authenticate in time");
  return next;
}

std::unique_ptr<Backend> makeTcpBackend(const BackendOptions& options) { return std::make_unique<TcpBackend>(options); }

}  // namespace fabric
