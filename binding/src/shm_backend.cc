// shm backend: every node maps its peers' region files; a write is a copy into the peer's mapping
// under the lock in the owner's header, after checking the permission word there. All calls run on
// the JS thread, so completions are queued before the post call returns.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "backend.h"
#include "shm_region.h"

namespace fabric {
namespace {

struct ShmPeer {
  std::string dir;
  std::unordered_map<std::string, std::shared_ptr<ShmMapping>> regions;
  // The region found last and its mapping (a leader writes one region of each peer over and over):
  // a short string compare instead of a hash lookup. Invariant: empty, or an entry of `regions`.
  std::string lastName;
  std::shared_ptr<ShmMapping> lastMapping;

  void forget(const std::string& region) {
    regions.erase(region);
    if (lastName == region) {
      lastName.clear();
      lastMapping.reset();
    }
  }
  void forgetAll() {
    regions.clear();
    lastName.clear();
    lastMapping.reset();
  }
};

// One thread per watched peer (watchPeerGone), asleep on the liveness lock of one of its regions.
// It maps the file itself: the JS thread's mappings are not shared with it.
struct GoneWatch {
  PeerId peer = kNoPeer;
  std::thread thread;
  std::mutex mu;
  std::shared_ptr<ShmMapping> current;  // under mu: close wakes its sleeper
};

// Longest single sleep of a watcher (then it looks again): bounds how long close may wait for a
// watcher whose wake-up it missed, and how soon a region file that appears is noticed.
constexpr uint32_t kGoneWaitMs = 100;

// A grant to make on a watcher's thread when `whenGone` is seen gone (Backend::armGrant). The
// mappings are the JS thread's own (shared_ptr: they outlive that thread's cache entries); their
// header locks are process-shared, so any thread may take them.
struct GrantArm {
  PeerId whenGone;
  PeerId grantee;
  std::string region;
  std::shared_ptr<ShmMapping> own;
  std::shared_ptr<ShmMapping> box;
  uint64_t boxOffset;
  std::vector<uint8_t> bytes;
  double tag;
};

class ShmBackend : public Backend {
 public:
  explicit ShmBackend(const BackendOptions& options)
      : selfId_(options.selfId), cluster_(options.cluster), dir_(options.shmDir.empty() ? "/dev/shm" : options.shmDir) {
    claimNodeId();
  }
  ~ShmBackend() override { close(); }

  std::shared_ptr<RegionMemory> registerRegion(const std::string& name, size_t bytes) override {
    checkOpen();
    auto it = own_.find(name);
    if (it != own_.end()) {
      if (it->second->bytes() != bytes)
        throw std::runtime_error("region '" + name + "' is already registered with " + std::to_string(it->second->bytes()) + " bytes");
      return it->second;
    }
    auto mapping = ShmMapping::create(regionPath(dir_, selfId_, name), selfId_, bytes);
    own_[name] = mapping;
    return mapping;
  }

  void connectPeer(PeerId peer, const std::string& host, int) override {
    checkOpen();
    if (!host.empty() && host[0] != '/')
      throw std::runtime_error("shm: the peer address's host is the directory of its region files and must be absolute, got '" + host + "'");
    ShmPeer& entry = peers_[peer];
    entry.dir = host.empty() ? dir_ : host;
    entry.forgetAll();
  }

  void disconnectPeer(PeerId peer) override { peers_.erase(peer); }

  PeerState peerState(PeerId peer) override {
    auto it = peers_.find(peer);
    if (closed_ || it == peers_.end()) return PeerState::Unreachable;
    pid_t pid = readPresence(it->second.dir, peer);
    if (pid == 0) return PeerState::Connecting;  // not started yet
    return pidAlive(pid) ? PeerState::Connected : PeerState::Unreachable;
  }

  void postWrite(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, const uint8_t* data,
                 size_t length) override {
    ErrorKind error = ErrorKind::None;
    std::string detail;
    // One retry: the first attempt may find the mapping of an incarnation that has been retired.
    for (int attempt = 0; attempt < 2; attempt++) {
      std::shared_ptr<ShmMapping> mapping = peerRegion(peer, region, error, detail);
      if (!mapping) break;
      if (offset > mapping->bytes() || length > mapping->bytes() - offset) {
        error = ErrorKind::Bounds;
        detail = "write of " + std::to_string(length) + " bytes at " + std::to_string(offset) + " outside region '" + region + "' of " + std::to_string(mapping->bytes()) + " bytes";
        break;
      }
      ShmHeader* header = mapping->header();
      mapping->lock();
      if (header->retired.load(std::memory_order_acquire)) {
        mapping->unlock();
        dropPeerRegion(peer, region);
        error = ErrorKind::Gone;
        detail = "region '" + region + "' of node " + std::to_string(peer) + " was closed";
        continue;
      }
      if (header->holder != selfId_) {
        PeerId holder = header->holder;
        mapping->unlock();
        error = ErrorKind::Permission;
        detail = "node " + std::to_string(peer) + " grants write on '" + region + "' to " + (holder == kNoPeer ? std::string("nobody") : "node " + std::to_string(holder));
        break;
      }
      memcpy(mapping->data() + offset, data, length);
      // The unlock below is a release; readers that do not take the lock pair with their acquire.
      std::atomic_thread_fence(std::memory_order_release);
      mapping->unlock();
      mapping->ringIfWatched();
      error = ErrorKind::None;
      detail.clear();
      break;
    }
    completeOnJsThread(wrId, peer, false, error, std::move(detail));
  }

  void postRead(uint64_t wrId, PeerId peer, const std::string& region, uint64_t offset, size_t length, uint8_t* into) override {
    ErrorKind error = ErrorKind::None;
    std::string detail;
    std::shared_ptr<ShmMapping> mapping = peerRegion(peer, region, error, detail);
    if (mapping) {
      if (offset > mapping->bytes() || length > mapping->bytes() - offset) {
        error = ErrorKind::Bounds;
        detail = "read of " + std::to_string(length) + " bytes at " + std::to_string(offset) + " outside region '" + region + "'";
      } else {
        // Like an RDMA READ: no lock, may observe a write in progress (Mu checks slots itself).
        std::atomic_thread_fence(std::memory_order_acquire);
        memcpy(into, mapping->data() + offset, length);
      }
    }
    completeOnJsThread(wrId, peer, true, error, std::move(detail));
  }

  void grantWrite(const std::string& region, PeerId peer) override {
    ShmMapping& mapping = ownRegion(region);
    // Under armMu_: a grant the arm is making now finishes first, and none is made after this one.
    disarmGrant();
    mapping.lock();
    mapping.header()->holder = peer;
    mapping.unlock();
  }

  PeerId writeHolder(const std::string& region) override {
    ShmMapping& mapping = ownRegion(region);
    mapping.lock();
    PeerId holder = mapping.header()->holder;
    mapping.unlock();
    return holder;
  }

  void holdPeerLockForTest(PeerId peer, const std::string& region, uint32_t ms) override {
    ErrorKind error = ErrorKind::None;
    std::string detail;
    std::shared_ptr<ShmMapping> mapping = peerRegion(peer, region, error, detail);
    if (!mapping) throw std::runtime_error(detail);
    mapping->lock();
    // Tell the driving test (which reads our stdout) that the lock is now held.
    fprintf(stdout, "{\"event\":\"holding\"}\n");
    fflush(stdout);
    usleep(useconds_t(std::min<uint32_t>(ms, 60000)) * 1000);
    mapping->unlock();
  }

  bool watchRemoteWrites(const std::string& region) override {
    checkOpen();
    ownRegion(region);
    if (watched_.count(region) > 0) return true;
    std::shared_ptr<ShmMapping> mapping = own_[region];
    mapping->header()->notifyOnWrite.store(1, std::memory_order_release);
    watched_[region] = std::thread([this, mapping] {
      uint32_t seen = mapping->header()->writeBell.load(std::memory_order_acquire);
      while (!stopWatching_.load(std::memory_order_acquire)) {
        uint32_t now = mapping->waitBell(seen);
        if (now != seen && !stopWatching_.load(std::memory_order_acquire)) remoteWriteLanded();
        seen = now;
      }
    });
    return true;
  }

  bool armGrant(PeerId whenGone, const std::string& region, PeerId grantee, const std::string& boxRegion, uint64_t boxOffset,
                const uint8_t* box, size_t boxLength, double tag) override {
    checkOpen();
    auto own = own_.find(region);
    if (own == own_.end()) throw std::runtime_error("armGrant: no local region named '" + region + "'");
    if (goneWatches_.count(whenGone) == 0) throw std::runtime_error("armGrant: node " + std::to_string(whenGone) + " is not watched (watchPeerGone)");
    ErrorKind error = ErrorKind::None;
    std::string detail;
    std::shared_ptr<ShmMapping> boxMapping = peerRegion(grantee, boxRegion, error, detail);
    if (boxMapping && (boxOffset > boxMapping->bytes() || boxLength > boxMapping->bytes() - boxOffset))
      throw std::runtime_error("armGrant: the box falls outside region '" + boxRegion + "' of node " + std::to_string(grantee));
    auto arm = boxMapping ? std::make_unique<GrantArm>(GrantArm{whenGone, grantee, region, own->second, boxMapping, boxOffset,
                                                                std::vector<uint8_t>(box, box + boxLength), tag})
                          : nullptr;
    std::lock_guard<std::mutex> guard(armMu_);
    arm_ = std::move(arm);
    return arm_ != nullptr;
  }

  void disarmGrant() override {
    std::lock_guard<std::mutex> guard(armMu_);
    arm_.reset();
  }

  bool watchPeerGone(PeerId peer, const std::string& region) override {
    checkOpen();
    auto it = peers_.find(peer);
    if (it == peers_.end()) throw std::runtime_error("watchPeerGone: node " + std::to_string(peer) + " is not connected");
    if (goneWatches_.count(peer) > 0) return true;
    auto watch = std::make_unique<GoneWatch>();
    watch->peer = peer;
    GoneWatch* w = watch.get();
    std::string path = regionPath(it->second.dir, peer, region);
    w->thread = std::thread([this, w, path] { watchGone(*w, path); });
    goneWatches_[peer] = std::move(watch);
    return true;
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    disarmGrant();
    {
      std::lock_guard<std::mutex> lock(stopMu_);
      stopWatching_.store(true, std::memory_order_release);
    }
    stopCv_.notify_all();
    for (auto& [peer, w] : goneWatches_) {
      {
        std::lock_guard<std::mutex> lock(w->mu);
        if (w->current) w->current->wakeLivenessWatchers();
      }
      w->thread.join();
    }
    goneWatches_.clear();
    for (auto& [name, thread] : watched_) {
      own_[name]->header()->notifyOnWrite.store(0, std::memory_order_release);
      own_[name]->wakeBellWaiters();
      thread.join();
    }
    watched_.clear();
    for (auto& [name, mapping] : own_) {
      mapping->lock();
      mapping->header()->retired.store(1, std::memory_order_release);
      mapping->header()->holder = kNoPeer;
      mapping->unlock();
      mapping->releaseLiveness();
      unlink(regionPath(dir_, selfId_, name).c_str());
    }
    own_.clear();  // Buffers handed to JS keep their mappings until collected
    peers_.clear();
    unlink(presencePath(dir_, selfId_).c_str());
  }

 private:
  std::string regionPath(const std::string& dir, PeerId node, const std::string& region) const {
    return dir + "/mucached-" + cluster_ + "-n" + std::to_string(node) + "-" + region;
  }
  std::string presencePath(const std::string& dir, PeerId node) const {
    return dir + "/mucached-" + cluster_ + "-n" + std::to_string(node) + ".pid";
  }

  static pid_t readPresence(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[32] = {0};
    ssize_t n = read(fd, text, sizeof text - 1);
    ::close(fd);
    return n > 0 ? pid_t(atol(text)) : 0;
  }
  pid_t readPresence(const std::string& dir, PeerId node) const { return readPresence(presencePath(dir, node)); }

  // One live process per (cluster, node id): a stale file from a crashed run is taken over.
  void claimNodeId() {
    std::string path = presencePath(dir_, selfId_);
    pid_t previous = readPresence(path);
    if (previous != 0 && previous != getpid() && pidAlive(previous))
      throw std::runtime_error("shm: node " + std::to_string(selfId_) + " of cluster '" + cluster_ + "' is already running as pid " + std::to_string(previous) + " (" + path + ")");
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("shm: cannot create " + tmp + ": " + strerror(errno));
    std::string text = std::to_string(getpid()) + "\n";
    bool written = write(fd, text.data(), text.size()) == ssize_t(text.size());
    ::close(fd);
    if (!written || rename(tmp.c_str(), path.c_str()) != 0) {
      unlink(tmp.c_str());
      throw std::runtime_error("shm: cannot publish " + path);
    }
  }

  // Sleeps up to `ms`, or until close.
  void pause(uint32_t ms) {
    std::unique_lock<std::mutex> lock(stopMu_);
    stopCv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopWatching_.load(std::memory_order_acquire); });
  }

  // A watcher's life: map the peer's region file, sleep while its owner lives, tell JS once per
  // incarnation that it is gone, then wait for a new incarnation (which retires the old file).
  void watchGone(GoneWatch& w, const std::string& path) {
    std::shared_ptr<ShmMapping> mapping;
    bool told = false;
    while (!stopWatching_.load(std::memory_order_acquire)) {
      if (!mapping || mapping->header()->retired.load(std::memory_order_acquire)) {
        mapping = ShmMapping::open(path);
        told = false;
        {
          std::lock_guard<std::mutex> lock(w.mu);
          w.current = mapping;
        }
        if (!mapping) {
          pause(kGoneWaitMs);
          continue;
        }
      }
      if (!mapping->waitWhileOwnerAlive(kGoneWaitMs)) continue;
      if (!told) {
        told = true;
        // The kernel and glibc wake one sleeper; the watchers of other nodes sleep on it too.
        mapping->wakeLivenessWatchers();
        if (!stopWatching_.load(std::memory_order_acquire)) {
          makeArmedGrant(w.peer);
          peerGone();
        }
      }
      pause(kGoneWaitMs);
    }
    std::lock_guard<std::mutex> lock(w.mu);
    w.current.reset();
  }

  // On `gone`'s watcher thread, as it saw that peer's process go: the armed grant, if it waits for
  // that peer and the peer still holds the region (a grant from the JS thread disarms, so the
  // region's holder was whatever that thread last gave it, or this arm's own earlier grant).
  void makeArmedGrant(PeerId gone) {
    std::lock_guard<std::mutex> guard(armMu_);
    if (!arm_ || arm_->whenGone != gone) return;
    std::unique_ptr<GrantArm> arm = std::move(arm_);
    // The grantee restarted since the arm was made: the request it answers died with it.
    if (arm->box->header()->retired.load(std::memory_order_acquire)) return;
    ShmMapping& own = *arm->own;
    own.lock();
    bool passes = own.header()->holder == gone;
    if (passes) own.header()->holder = arm->grantee;
    own.unlock();
    if (!passes) return;
    // The box lands as postWrite would land it; if it cannot (the grantee restarted, or took this
    // node's right to write that box back), the grant still stands and the JS thread, told below,
    // sends the box itself.
    ShmMapping& box = *arm->box;
    box.lock();
    bool lands = !box.header()->retired.load(std::memory_order_acquire) && box.header()->holder == selfId_;
    if (lands) {
      memcpy(box.data() + arm->boxOffset, arm->bytes.data(), arm->bytes.size());
      std::atomic_thread_fence(std::memory_order_release);
    }
    box.unlock();
    if (lands) box.ringIfWatched();
    armedGrants_.push_back(ArmedGrant{gone, arm->grantee, arm->region, arm->tag});
  }

  void checkOpen() const {
    if (closed_) throw std::runtime_error("fabric is closed");
  }

  ShmMapping& ownRegion(const std::string& region) {
    auto it = own_.find(region);
    if (it == own_.end()) throw std::runtime_error("no local region named '" + region + "'");
    return *it->second;
  }

  void dropPeerRegion(PeerId peer, const std::string& region) {
    auto it = peers_.find(peer);
    if (it != peers_.end()) it->second.forget(region);
  }

  std::shared_ptr<ShmMapping> peerRegion(PeerId peer, const std::string& region, ErrorKind& error, std::string& detail) {
    auto it = peers_.find(peer);
    if (closed_ || it == peers_.end()) {
      error = ErrorKind::Unreachable;
      detail = "node " + std::to_string(peer) + " is not connected";
      return nullptr;
    }
    ShmPeer& entry = it->second;
    std::shared_ptr<ShmMapping> mapping;
    if (entry.lastMapping && entry.lastName == region) {
      mapping = entry.lastMapping;
    } else {
      auto found = entry.regions.find(region);
      if (found != entry.regions.end()) {
        mapping = found->second;
      } else {
        mapping = ShmMapping::open(regionPath(entry.dir, peer, region));
        if (!mapping) {
          pid_t pid = readPresence(entry.dir, peer);
          bool alive = pid != 0 && pidAlive(pid);
          error = alive ? ErrorKind::NoRegion : ErrorKind::Gone;
          detail = alive ? "node " + std::to_string(peer) + " has no region '" + region + "'" : "node " + std::to_string(peer) + " is not running";
          return nullptr;
        }
        entry.regions[region] = mapping;
      }
      entry.lastName = region;
      entry.lastMapping = mapping;
    }
    if (!mapping->ownerAlive()) {
      entry.forget(region);
      error = ErrorKind::Gone;
      detail = "node " + std::to_string(peer) + " (pid " + std::to_string(mapping->header()->ownerPid) + ") is dead";
      return nullptr;
    }
    return mapping;
  }

  PeerId selfId_;
  std::string cluster_;
  std::string dir_;
  bool closed_ = false;
  std::map<std::string, std::shared_ptr<ShmMapping>> own_;
  // One thread per watched region, asleep on its bell's futex (see watchRemoteWrites).
  std::map<std::string, std::thread> watched_;
  std::atomic<bool> stopWatching_{false};
  std::mutex stopMu_;
  std::condition_variable stopCv_;
  std::map<PeerId, std::unique_ptr<GoneWatch>> goneWatches_;
  std::unique_ptr<GrantArm> arm_;  // under armMu_
  std::unordered_map<PeerId, ShmPeer> peers_;
};

}  // namespace

std::unique_ptr<Backend> makeShmBackend(const BackendOptions& options) { return std::make_unique<ShmBackend>(options); }

}  // namespace fabric
