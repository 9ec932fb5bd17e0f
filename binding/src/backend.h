// What every native backend implements; the Node-API layer (addon.cc) only talks to this.
#pragma once
#include <functional>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "completion_queue.h"
#include "fabric_types.h"

namespace fabric {

struct BackendOptions {
  PeerId selfId = kNoPeer;
  std::string cluster;
  std::string secret;      // tcp
  std::string listenHost;  // tcp
  int listenPort = 0;      // tcp (0: any free port; see listenPort())
  std::string heraldPath;  // tcp: the death herald binary (herald.h); empty: none
  std::string shmDir;      // shm
  std::string device;      // verbs
  std::string gid;         // verbs
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::shared_ptr<RegionMemory> registerRegion(const std::string& name, size_t bytes) = 0;
  virtual void connectPeer(PeerId peer, const std::string& host, int port) = 0;
  virtual void disconnectPeer(PeerId peer) = 0;
  virtual PeerState peerState(PeerId peer) = 0;
  // Both post calls report their outcome through the completion queue only (never by throwing),
  // except for programming errors such as an invalid region name.
  virtual void postWrite(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset,
                         const uint8_t* data, size_t length) = 0;
  // `into` stays valid until the read's completion has been polled (the addon holds the Buffer):
  // a backend copies into it now, or from its own thread before it pushes the completion (as an
  // RDMA NIC would; the JS side must not touch `into` before then), or delivers the bytes in
  // Completion::readData for the JS thread to copy.
  virtual void postRead(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset,
                        size_t length, uint8_t* into) = 0;
  virtual void grantWrite(const std::string& region, PeerId peer) = 0;
  virtual PeerId writeHolder(const std::string& region) = 0;
  virtual int listenPort() const { return 0; }
  // tcp: the pid of this node's death herald while it runs (herald.h); 0 otherwise.
  virtual int heraldPid() const { return 0; }
  // tcp: whether `peer`'s death herald holds an authenticated connection to us (herald.h).
  virtual bool heraldConnected(PeerId peer) { return false; }
  // Called on the JS thread by pollCompletions when the queue is empty: a backend whose answers
  // arrive on sockets may read them here itself (non-blocking) instead of waiting for its native
  // thread to wake up, which takes a scheduler hop off the latency of a spinning poll.
  virtual void reapCompletions() {}
  // Called on the JS thread right after a waiter was armed on the completion queue (the queue was
  // empty): a backend whose native thread does not always watch for answers starts doing so here.
  virtual void waiterArmed() {}
  // Tests only (shm): take the lock in a peer's region header and keep it for `ms` milliseconds,
  // so a test can kill this process while it holds the lock.
  virtual void holdPeerLockForTest(PeerId peer, const std::string& region, uint32_t ms) {
    throw std::runtime_error("holdPeerLockForTest is only implemented by the shm backend");
  }
  // From now on a peer's write that lands in this local region calls the remote-write notifier soon
  // after (what RDMA write-with-immediate gives a receiver), so the JS side need not poll for it.
  // False if this backend cannot; its users then find such writes by polling.
  virtual bool watchRemoteWrites(const std::string& region) { return false; }
  // Set once, before any region is watched; may be called from any thread.
  void setRemoteWriteNotifier(std::function<void()> fn) { remoteWriteNotifier_ = std::move(fn); }
  // From now on, soon after the process serving `peer` stops (exits, or is killed), call the
  // peer-gone notifier, ahead of the next read that would fail as Gone. `region` is one the peer
  // registers. False if this backend cannot tell (a remote host's death shows only on the wire).
  virtual bool watchPeerGone(PeerId peer, const std::string& region) { return false; }
  // Arm a grant that the backend makes on its own thread as it sees `whenGone` gone (Fabric.armGrant
  // in binding/fabric.ts): if `whenGone` still holds write permission on the local `region`, it
  // passes to `grantee`, and `box` is written into the grantee's `boxRegion` at `boxOffset`. One arm
  // stands at most: a new one replaces it; disarmGrant, grantWrite and the grant itself end it.
  // False if this backend cannot, or the grantee's region cannot be reached now (nothing armed).
  virtual bool armGrant(PeerId whenGone, const std::string& region, PeerId grantee, const std::string& boxRegion,
                        uint64_t boxOffset, const uint8_t* box, size_t boxLength, double tag) {
    return false;
  }
  virtual void disarmGrant() {}
  struct ArmedGrant {
    PeerId whenGone;
    PeerId grantee;
    std::string region;
    double tag;
  };
  // The grants made from arms since the last call.
  std::vector<ArmedGrant> takeArmedGrants() {
    std::lock_guard<std::mutex> guard(armMu_);
    std::vector<ArmedGrant> made;
    made.swap(armedGrants_);
    return made;
  }
  // Set once, before any peer is watched; called from the backend's own threads.
  void setPeerGoneNotifier(std::function<void()> fn) { peerGoneNotifier_ = std::move(fn); }
  virtual void close() = 0;

  CompletionQueue& completions() { return completions_; }

 protected:
  void complete(uint64_t wrId, PeerId peer, bool isRead, ErrorKind error, std::string detail = {}) {
    completions_.push(completion(wrId, peer, isRead, error, std::move(detail)));
  }

  // complete() for a backend that completes on the JS thread, inside the post call (shm).
  void completeOnJsThread(uint64_t wrId, PeerId peer, bool isRead, ErrorKind error, std::string detail = {}) {
    completions_.pushLocal(completion(wrId, peer, isRead, error, std::move(detail)));
  }

  static Completion completion(uint64_t wrId, PeerId peer, bool isRead, ErrorKind error, std::string detail) {
    Completion c;
    c.wrId = wrId;
    c.peerId = peer;
    c.isRead = isRead;
    c.error = error;
    c.detail = std::move(detail);
    return c;
  }

  void remoteWriteLanded() {
    if (remoteWriteNotifier_) remoteWriteNotifier_();
  }

  void peerGone() {
    if (peerGoneNotifier_) peerGoneNotifier_();
  }

  CompletionQueue completions_;
  // A backend's arm (its own type: what its thread needs to make the grant) is kept under armMu_,
  // and so are the grants made from it, not yet taken (takeArmedGrants).
  std::mutex armMu_;
  std::vector<ArmedGrant> armedGrants_;
  std::function<void()> remoteWriteNotifier_;
  std::function<void()> peerGoneNotifier_;
};

std::unique_ptr<Backend> makeShmBackend(const BackendOptions& options);
std::unique_ptr<Backend> makeTcpBackend(const BackendOptions& options);
// Throws std::runtime_error when the build has no verbs or the host has no RDMA device.
std::unique_ptr<Backend> makeVerbsBackend(const BackendOptions& options);

}  // namespace fabric
