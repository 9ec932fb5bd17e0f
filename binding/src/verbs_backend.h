// verbs backend: the RDMA data path (libibverbs + librdmacm, RoCE v2 / InfiniBand).
//
// NEVER RUN ON REAL HARDWARE. This host has no RDMA device (and no soft-RoCE): everything below the
// device check compiles against Debian's libibverbs-dev/librdmacm-dev and its pure parts
// (verbs_wire.cc, verbs_policy.cc) are unit-tested, but connection setup, the manual QP state
// transitions, RDMA WRITE/READ, completion handling, the RTS access-flag change and the QP
// re-creation fallback have never executed. Expect to debug them on the first machine with a NIC
// (soft-RoCE, `rdma link add rxe0 type rxe netdev eth0`, is the cheapest place to start).
//
// Shape:
// - One device, chosen by the IP address it serves: options.gid (an IP, or a RoCE v2 GID, which is
//   an IPv4-mapped address), else options.device when it is an address, else listenHost, else
//   the address of a RoCE v2 GID of the device options.device names (mlx5_0). A name given along
//   with an address must be the device that serves the address.
// - One protection domain, one CQ with a completion channel, one rdma_cm event channel, and one
//   native thread that sleeps in epoll on both (plus an eventfd for wake-ups and timers).
// - One RC QP per peer, shared by both directions. The node with the lower id connects (active
//   side, with backoff), the other accepts. The QP is created by us, not by rdma_cm, so that its
//   access flags are ours from INIT on: a peer never holds write access it was not granted, not
//   even between connect and the first grant.
// - Once connected, each side SENDs its region advertisement (verbs_wire.h); a peer is
//   'connected' once ours is sent and theirs has arrived.
// - Writes go inline when small, else through a registered staging slot (the caller's Buffer is
//   only valid during postWrite); reads land in a staging slot and are copied into the completion.
// - Permission: qpAccessFlags (verbs_policy.h) on the QP of the previous and the new holder,
//   changed with ibv_modify_qp in RTS; where the device refuses, the QP is destroyed (synchronous
//   revocation) and the connection re-established with the new flags.
// - Any failed completion leaves the RC QP in the error state: the peer's QP is torn down, its
//   other work completes as 'unreachable', and the connection is re-established.
#pragma once
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "backend.h"
#include "verbs_policy.h"
#include "verbs_wire.h"

namespace fabric {

// Page-aligned anonymous memory behind a local region. The MR over it belongs to the backend
// (deregistered at close); the memory lives as long as JS holds the Buffer.
class VerbsMemory : public RegionMemory {
 public:
  explicit VerbsMemory(size_t bytes);
  ~VerbsMemory() override;
  uint8_t* data() const override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  uint8_t* data_;
  size_t bytes_;
};

struct VerbsRegion {
  std::shared_ptr<VerbsMemory> memory;
  ibv_mr* mr = nullptr;
};

// Registered bounce buffers for reads and for writes too large to go inline.
class StagingPool {
 public:
  static constexpr size_t kSlots = 256;
  static constexpr size_t kSlotBytes = 4096;
  void open(ibv_pd* pd);
  void close();
  // -1 when every slot is in use.
  int take();
  void give(int slot);
  uint8_t* at(int slot) { return memory_ + size_t(slot) * kSlotBytes; }
  uint32_t lkey() const { return mr_->lkey; }

 private:
  uint8_t* memory_ = nullptr;
  ibv_mr* mr_ = nullptr;
  std::vector<int> free_;
};

enum class VerbsPhase { Idle, Resolving, Connecting, Established, Ready };

struct VerbsPeer {
  PeerId id = kNoPeer;
  bool active = false;  // we connect (lower id); otherwise we accept
  sockaddr_storage address{};
  PeerState state = PeerState::Connecting;
  VerbsPhase phase = VerbsPhase::Idle;
  rdma_cm_id* cmId = nullptr;
  ibv_qp* qp = nullptr;
  uint32_t maxInline = 0;
  int appliedAccess = 0;  // the QP's access flags as last set
  uint32_t generation = 0;  // bumps with each QP; internal wr ids carry it
  bool adsReceived = false;
  bool adsDirty = false;  // regions changed while every advertisement send slot was busy
  uint32_t sendSlotsBusy = 0;  // bit i: send slot i is posted and not yet completed
  std::map<std::string, RegionAd> remote;  // the peer's regions, from its advertisement
  // Receive buffers for advertisements and the send buffer of ours, registered per QP.
  std::vector<uint8_t> recvBuffers, sendBuffer;
  ibv_mr* recvMr = nullptr;
  ibv_mr* sendMr = nullptr;
  uint64_t retryAtNs = 0, backoffNs = 0, deadlineNs = 0;
  bool loggedFailure = false;
};

struct VerbsOp {
  PeerId peer = kNoPeer;
  uint32_t generation = 0;
  bool isRead = false;
  uint32_t length = 0;
  int slot = -1;  // staging slot, or -1 (inline write, or `owned`)
  // Operations above a staging slot: a buffer registered for this operation only.
  std::vector<uint8_t> owned;
  ibv_mr* ownedMr = nullptr;
};

class VerbsBackend : public Backend {
 public:
  explicit VerbsBackend(const BackendOptions& options);
  ~VerbsBackend() override;

  std::shared_ptr<RegionMemory> registerRegion(const std::string& name, size_t bytes) override;
  void connectPeer(PeerId peer, const std::string& host, int port) override;
  void disconnectPeer(PeerId peer) override;
  PeerState peerState(PeerId peer) override;
  void postWrite(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, const uint8_t* data, size_t length) override;
  void postRead(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, size_t length, uint8_t* into) override;
  void grantWrite(const std::string& region, PeerId peer) override;
  PeerId writeHolder(const std::string& region) override;
  int listenPort() const override { return listenPort_; }
  void reapCompletions() override;
  void close() override;

  static constexpr int kRecvSlots = 4;
  static constexpr int kMaxSendWr = 1024;
  static constexpr int kCqEntries = 8192;
  static constexpr uint32_t kWantInline = 128;
  static constexpr int kResolveTimeoutMs = 2000;
  static constexpr uint64_t kHandshakeTimeoutNs = 5000000000ull;
  static constexpr uint64_t kFirstBackoffNs = 5000000ull;
  static constexpr uint64_t kMaxBackoffNs = 500000000ull;
  static constexpr uint64_t kBusyPollNs = 50000ull;

 private:
  // verbs_device.cc
  void openDevice(const BackendOptions& options);
  void closeDevice();
  // verbs_connection.cc (all with mu_ held)
  void startConnectLocked(VerbsPeer& peer, uint64_t nowNs);
  void onCmEvent(rdma_cm_event_type type, int status, rdma_cm_id* id, const std::vector<uint8_t>& privateData);
  void onConnectRequestLocked(rdma_cm_id* id, const std::vector<uint8_t>& privateData);
  bool createQpLocked(VerbsPeer& peer, rdma_cm_id* id, std::string& why);
  bool moveQpLocked(VerbsPeer& peer, ibv_qp_state state, std::string& why);
  void onEstablishedLocked(VerbsPeer& peer);
  void sendAdsLocked(VerbsPeer& peer);
  void onAdsLocked(VerbsPeer& peer, const uint8_t* bytes, size_t length);
  void maybeReadyLocked(VerbsPeer& peer);
  bool postRecvLocked(VerbsPeer& peer, int slot);
  void applyAccessLocked(VerbsPeer& peer);
  void teardownLocked(VerbsPeer& peer, const std::string& why, bool retry, uint64_t retryDelayNs);
  VerbsPeer* peerByCmId(rdma_cm_id* id);
  // verbs_completions.cc (mu_ held)
  void pollCqLocked();
  void onWorkCompletionLocked(const ibv_wc& wc);
  // Points `sge` at registered memory holding (writes: a copy of) `length` bytes for `op`.
  bool stageLocked(VerbsOp& op, const uint8_t* data, size_t length, ibv_sge& sge, std::string& why);
  void unstageLocked(VerbsOp& op);
  void failPeerOpsLocked(PeerId peer, const std::string& why);
  // verbs_backend.cc
  void eventLoop();
  void drainCmEvents();
  void onCqEvent();
  uint64_t runTimersLocked(uint64_t nowNs);
  void wakeThread();
  std::vector<RegionAd> localAdsLocked();

  PeerId self_;
  uint64_t clusterHash_;
  sockaddr_storage bindAddress_{};
  int listenPort_ = 0;
  int rdAtomic_ = 1;  // outstanding RDMA READs per QP, both directions (device limit, at most 16)

  rdma_event_channel* cmChannel_ = nullptr;
  rdma_cm_id* listenId_ = nullptr;
  ibv_context* context_ = nullptr;  // owned by rdma_cm (the listen id's device)
  ibv_pd* pd_ = nullptr;
  ibv_comp_channel* compChannel_ = nullptr;
  ibv_cq* cq_ = nullptr;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  StagingPool staging_;

  std::mutex mu_;  // everything below, and every verbs call on QPs, the CQ and MRs
  std::map<std::string, VerbsRegion> regions_;
  std::map<std::string, PeerId> holders_;
  std::unordered_map<PeerId, VerbsPeer> peers_;
  std::unordered_map<uint64_t, VerbsOp> ops_;  // posted user operations by wrId
  std::atomic<int64_t> inFlight_{0};
  std::atomic<bool> stopping_{false};
  bool closed_ = false;
  std::thread thread_;
};

// An IP literal or host name with `port`; an IPv4-mapped IPv6 address (a RoCE v2 GID) becomes
// the IPv4 address rdma_cm expects (verbs_device.cc).
sockaddr_storage resolveVerbsAddress(const std::string& host, int port);

// Internal work requests (advertisement sends and receives) carry this bit; user wr ids are
// below 2^53 (they cross into JS as numbers).
constexpr uint64_t kInternalWr = 1ull << 63;
constexpr uint64_t kInternalRecv = 1ull << 62;
inline uint64_t internalWrId(bool recv, PeerId peer, uint32_t generation, int slot) {
  return kInternalWr | (recv ? kInternalRecv : 0) | (uint64_t(uint32_t(peer) & 0xffffff) << 32) | (uint64_t(generation & 0xffffff) << 8) | uint64_t(slot & 0xff);
}
inline PeerId internalPeer(uint64_t wrId) { return PeerId((wrId >> 32) & 0xffffff); }
inline uint32_t internalGeneration(uint64_t wrId) { return uint32_t((wrId >> 8) & 0xffffff); }
inline int internalSlot(uint64_t wrId) { return int(wrId & 0xff); }

}  // namespace fabric
