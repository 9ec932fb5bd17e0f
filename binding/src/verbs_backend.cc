// verbs backend: construction, the JS-thread API and the native event thread. See verbs_backend.h
// for the shape and for what has never run on hardware.
#include "verbs_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace fabric {

VerbsMemory::VerbsMemory(size_t bytes) : bytes_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("verbs: cannot allocate region: ") + strerror(errno));
  data_ = static_cast<uint8_t*>(p);
}

VerbsMemory::~VerbsMemory() { munmap(data_, bytes_); }

void StagingPool::open(ibv_pd* pd) {
  void* p = mmap(nullptr, kSlots * kSlotBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("verbs: cannot allocate staging buffers: ") + strerror(errno));
  memory_ = static_cast<uint8_t*>(p);
  mr_ = ibv_reg_mr(pd, memory_, kSlots * kSlotBytes, IBV_ACCESS_LOCAL_WRITE);
  if (!mr_) throw std::runtime_error(std::string("verbs: ibv_reg_mr (staging): ") + strerror(errno));
  for (int i = int(kSlots) - 1; i >= 0; i--) free_.push_back(i);
}

void StagingPool::close() {
  if (mr_) ibv_dereg_mr(mr_);
  mr_ = nullptr;
  if (memory_) munmap(memory_, kSlots * kSlotBytes);
  memory_ = nullptr;
  free_.clear();
}

int StagingPool::take() {
  if (free_.empty()) return -1;
  int slot = free_.back();
  free_.pop_back();
  return slot;
}

void StagingPool::give(int slot) {
  FABRIC_ASSERT(slot >= 0 && size_t(slot) < kSlots);
  free_.push_back(slot);
}

VerbsBackend::VerbsBackend(const BackendOptions& options) : self_(options.selfId), clusterHash_(clusterHash(options.cluster)) {
  try {
    openDevice(options);
  } catch (...) {
    closeDevice();
    throw;
  }
  thread_ = std::thread([this] { eventLoop(); });
}

VerbsBackend::~VerbsBackend() { close(); }

std::shared_ptr<RegionMemory> VerbsBackend::registerRegion(const std::string& name, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = regions_.find(name);
  if (it != regions_.end()) {
    if (it->second.memory->bytes() != bytes)
      throw std::runtime_error("region '" + name + "' is already registered with " + std::to_string(it->second.memory->bytes()) + " bytes");
    return it->second.memory;
  }
  VerbsRegion region;
  region.memory = std::make_shared<VerbsMemory>(bytes);
  // Remote write is allowed on the MR; the QP's access flags decide which peer may use it.
  region.mr = ibv_reg_mr(pd_, region.memory->data(), bytes, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
  if (!region.mr) throw std::runtime_error("verbs: ibv_reg_mr of region '" + name + "' (" + std::to_string(bytes) + " bytes): " + strerror(errno));
  regions_[name] = region;
  holders_[name] = kNoPeer;
  try {
    encodeRegionAds(localAdsLocked());  // every advertisement must fit one receive buffer
  } catch (const std::length_error& e) {
    ibv_dereg_mr(region.mr);
    regions_.erase(name);
    holders_.erase(name);
    throw std::runtime_error(std::string("verbs: cannot register region '") + name + "': " + e.what());
  }
  // Peers already connected learn of the new region now.
  for (auto& [id, peer] : peers_)
    if (peer.phase == VerbsPhase::Established || peer.phase == VerbsPhase::Ready) sendAdsLocked(peer);
  return region.memory;
}

std::vector<RegionAd> VerbsBackend::localAdsLocked() {
  std::vector<RegionAd> ads;
  for (auto& [name, region] : regions_)
    ads.push_back(RegionAd{name, uint64_t(reinterpret_cast<uintptr_t>(region.memory->data())), region.mr->rkey, region.memory->bytes()});
  return ads;
}

void VerbsBackend::connectPeer(PeerId peer, const std::string& host, int port) {
  if (peer == self_) throw std::runtime_error("verbs: node " + std::to_string(peer) + " is this node");
  bool active = self_ < peer;  // the lower id connects, the other accepts
  sockaddr_storage address{};
  if (active) {
    if (host.empty() || port <= 0 || port > 65535) throw std::runtime_error("verbs: connectPeer needs the peer's RDMA address (host) and fabric port");
    address = resolveVerbsAddress(host, port);
    if (address.ss_family != bindAddress_.ss_family) throw std::runtime_error("verbs: '" + host + "' is not of the address family this node listens on");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) throw std::runtime_error("fabric is closed");
    if (peers_.count(peer)) return;
    VerbsPeer& entry = peers_[peer];
    entry.id = peer;
    entry.active = active;
    entry.address = address;
    entry.backoffNs = kFirstBackoffNs;
  }
  wakeThread();
}

void VerbsBackend::disconnectPeer(PeerId peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  teardownLocked(it->second, "disconnected", false, 0);
  peers_.erase(it);
}

PeerState VerbsBackend::peerState(PeerId peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(peer);
  return it == peers_.end() ? PeerState::Unreachable : it->second.state;
}

void VerbsBackend::postWrite(uint64_t wrId, PeerId peerId, const std::string& region, uint64_t offset, const uint8_t* data, size_t length) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(peerId);
  if (it == peers_.end() || it->second.phase != VerbsPhase::Ready) {
    complete(wrId, peerId, false, ErrorKind::Unreachable, "node " + std::to_string(peerId) + " is " + (it == peers_.end() ? "not connected" : peerStateName(it->second.state)));
    return;
  }
  VerbsPeer& peer = it->second;
  ErrorKind check = checkRemoteAccess(peer.remote, region, offset, length);
  if (check != ErrorKind::None) {
    complete(wrId, peerId, false, check, "node " + std::to_string(peerId) + ": " + errorKindName(check) + " for region '" + region + "'");
    return;
  }
  const RegionAd& ad = peer.remote.at(region);
  VerbsOp op{peerId, peer.generation, false, uint32_t(length), -1, {}, nullptr};
  ibv_sge sge{};
  ibv_send_wr wr{};
  wr.wr_id = wrId;
  wr.opcode = IBV_WR_RDMA_WRITE;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.wr.rdma.remote_addr = ad.addr + offset;
  wr.wr.rdma.rkey = ad.rkey;
  if (length > 0) {
    wr.sg_list = &sge;
    wr.num_sge = 1;
    sge.length = uint32_t(length);
    if (length <= peer.maxInline) {
      wr.send_flags |= IBV_SEND_INLINE;  // the device copies the bytes while posting
      sge.addr = uint64_t(reinterpret_cast<uintptr_t>(data));
    } else {
      std::string why;
      if (!stageLocked(op, data, length, sge, why)) {
        complete(wrId, peerId, false, ErrorKind::Unreachable, why);
        return;
      }
    }
  }
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(peer.qp, &wr, &bad);
  if (rc != 0) {
    unstageLocked(op);
    complete(wrId, peerId, false, ErrorKind::Unreachable, std::string("verbs: ibv_post_send: ") + strerror(rc));
    return;
  }
  ops_.emplace(wrId, std::move(op));
  inFlight_.fetch_add(1, std::memory_order_relaxed);
}

void VerbsBackend::postRead(uint64_t wrId, PeerId peerId, const std::string& region, uint64_t offset, size_t length, uint8_t*) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(peerId);
  if (it == peers_.end() || it->second.phase != VerbsPhase::Ready) {
    complete(wrId, peerId, true, ErrorKind::Unreachable, "node " + std::to_string(peerId) + " is " + (it == peers_.end() ? "not connected" : peerStateName(it->second.state)));
    return;
  }
  VerbsPeer& peer = it->second;
  ErrorKind check = checkRemoteAccess(peer.remote, region, offset, length);
  if (check != ErrorKind::None) {
    complete(wrId, peerId, true, check, "node " + std::to_string(peerId) + ": " + errorKindName(check) + " for region '" + region + "'");
    return;
  }
  VerbsOp op{peerId, peer.generation, true, uint32_t(length), -1, {}, nullptr};
  const RegionAd& ad = peer.remote.at(region);
  ibv_sge sge{};
  std::string why;
  if (length > 0 && !stageLocked(op, nullptr, length, sge, why)) {
    complete(wrId, peerId, true, ErrorKind::Unreachable, why);
    return;
  }
  ibv_send_wr wr{};
  wr.wr_id = wrId;
  wr.opcode = IBV_WR_RDMA_READ;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.sg_list = length > 0 ? &sge : nullptr;
  wr.num_sge = length > 0 ? 1 : 0;
  wr.wr.rdma.remote_addr = ad.addr + offset;
  wr.wr.rdma.rkey = ad.rkey;
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(peer.qp, &wr, &bad);
  if (rc != 0) {
    unstageLocked(op);
    complete(wrId, peerId, true, ErrorKind::Unreachable, std::string("verbs: ibv_post_send: ") + strerror(rc));
    return;
  }
  ops_.emplace(wrId, std::move(op));
  inFlight_.fetch_add(1, std::memory_order_relaxed);
}

void VerbsBackend::grantWrite(const std::string& region, PeerId next) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = holders_.find(region);
  if (it == holders_.end()) throw std::runtime_error("no local region named '" + region + "'");
  PeerId previous = it->second;
  it->second = next;
  // Revocation is synchronous: applyAccessLocked returns once the previous holder's QP has lost
  // remote write (modify_qp) or no longer exists (re-creation).
  for (PeerId affected : peersAffectedByGrant(previous, next)) {
    auto peer = peers_.find(affected);
    if (peer != peers_.end()) applyAccessLocked(peer->second);
  }
}

PeerId VerbsBackend::writeHolder(const std::string& region) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = holders_.find(region);
  if (it == holders_.end()) throw std::runtime_error("no local region named '" + region + "'");
  return it->second;
}

void VerbsBackend::reapCompletions() {
  if (inFlight_.load(std::memory_order_relaxed) <= 0) return;
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);  // the event thread is polling already
  if (lock.owns_lock() && !closed_) pollCqLocked();
}

void VerbsBackend::wakeThread() {
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof one);
  (void)n;  // EAGAIN: a wake is already pending
}

void VerbsBackend::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
  }
  stopping_.store(true);
  wakeThread();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, peer] : peers_) teardownLocked(peer, "fabric closed", false, 0);
  peers_.clear();
  for (auto& [wrId, op] : ops_) {
    unstageLocked(op);
    complete(wrId, op.peer, op.isRead, ErrorKind::Unreachable, "fabric closed");
  }
  ops_.clear();
  inFlight_.store(0);
  closeDevice();
}

void VerbsBackend::eventLoop() {
  epoll_event events[8];
  while (!stopping_.load()) {
    uint64_t now = monotonicNs();
    uint64_t next;
    bool busyPoll;
    {
      std::lock_guard<std::mutex> lock(mu_);
      next = runTimersLocked(now);
      busyPoll = inFlight_.load(std::memory_order_relaxed) > 0 && completions_.waiterArmed();
    }
    // Bounded busy-poll of the CQ while a JS waiter is parked and work is in flight; the lock is
    // taken per poll so posts from the JS thread are not held up.
    for (uint64_t until = now + kBusyPollNs; busyPoll && monotonicNs() < until && completions_.waiterArmed() && !stopping_.load();) {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) break;
      pollCqLocked();
    }
    int timeoutMs = next <= now ? 0 : int(std::min<uint64_t>((next - now) / 1000000 + 1, 100));
    int n = epoll_wait(epollFd_, events, 8, timeoutMs);
    if (n < 0) {
      FABRIC_ASSERT(errno == EINTR);
      continue;
    }
    for (int i = 0; i < n; i++) {
      switch (events[i].data.u32) {
        case 0: drainCmEvents(); break;
        case 1: onCqEvent(); break;
        default: {
          uint64_t count;
          while (read(wakeFd_, &count, sizeof count) > 0) {
          }
        }
      }
    }
  }
}

void VerbsBackend::drainCmEvents() {
  // Bounded per wake-up; the channel stays readable if more are queued.
  for (int i = 0; i < 64; i++) {
    rdma_cm_event* event = nullptr;
    if (rdma_get_cm_event(cmChannel_, &event) != 0) return;  // EAGAIN: none left
    rdma_cm_event_type type = event->event;
    int status = event->status;
    rdma_cm_id* id = event->id;
    std::vector<uint8_t> privateData;
    if (event->param.conn.private_data && event->param.conn.private_data_len > 0) {
      auto* p = static_cast<const uint8_t*>(event->param.conn.private_data);
      privateData.assign(p, p + event->param.conn.private_data_len);
    }
    // Acked before handling: rdma_destroy_id (teardown) waits for every event of its id to be acked.
    rdma_ack_cm_event(event);
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_) onCmEvent(type, status, id, privateData);
  }
}

void VerbsBackend::onCqEvent() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  if (ibv_get_cq_event(compChannel_, &cq, &context) != 0) return;
  ibv_ack_cq_events(cq, 1);
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  // Re-arm before polling, so a completion that arrives after the last poll raises a new event.
  ibv_req_notify_cq(cq_, 0);
  pollCqLocked();
}

uint64_t VerbsBackend::runTimersLocked(uint64_t nowNs) {
  uint64_t next = nowNs + 100000000ull;
  for (auto& [id, peer] : peers_) {
    if (peer.active && peer.phase == VerbsPhase::Idle) {
      if (peer.retryAtNs <= nowNs) startConnectLocked(peer, nowNs);
      else next = std::min(next, peer.retryAtNs);
    }
    if (peer.phase != VerbsPhase::Idle && peer.phase != VerbsPhase::Ready) {
      if (peer.deadlineNs <= nowNs) teardownLocked(peer, "connection setup timed out", true, peer.backoffNs);
      else next = std::min(next, peer.deadlineNs);
    }
  }
  return next;
}

std::unique_ptr<Backend> makeVerbsBackend(const BackendOptions& options) { return std::make_unique<VerbsBackend>(options); }

}  // namespace fabric
