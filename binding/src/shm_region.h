// One shm region file: a header page (permission word, robust process-shared lock, owner pid) and
// then the region's bytes. The owner creates it; peers map it to write and read one-sided.
#pragma once
#include <pthread.h>
#include <sys/types.h>

#include <cstddef>
#include <atomic>

#include "fabric_types.h"

namespace fabric {

constexpr uint64_t kShmMagic = 0x314d48534642554dull;  // "MUFBSHM1"
constexpr size_t kShmHeaderBytes = 4096;               // keeps the data page-aligned

struct ShmHeader {
  std::atomic<uint64_t> magic;  // written last (release) by the creator: the file is complete
  uint64_t dataBytes;
  int32_t ownerPid;
  PeerId ownerId;
  // Set under `lock` when the owner closes or a restarted owner replaces the file: a writer that
  // sees it drops its mapping and reopens the path, so no write lands in a dead incarnation.
  std::atomic<uint32_t> retired;
  // The single peer allowed to write (kNoPeer: nobody). Read and written only under `lock`, and
  // every write's copy happens under `lock` too: once grantWrite returns, a revoked writer is done.
  PeerId holder;
  // Robust: if a writer dies holding it, the next locker gets EOWNERDEAD and recovers it.
  pthread_mutex_t lock;
  // Fields below were added after the first release, in the zero-filled rest of the header page:
  // an older build ignores them, and a file an older build made has them all zero.
  // 1: the owner holds `liveness` (below); 0: a file of an older build, whose owner is checked by pid.
  std::atomic<uint32_t> livenessHeld;
  // Held by the owner's thread from before the file is published until close: the owner's death
  // signal. Robust, so when that thread dies (SIGKILL included) the kernel marks its futex word
  // OWNER_DIED about 0.1 ms later, while tearing the process down takes 3-8 ms for a Node
  // process, all of which kill(pid, 0) still reports alive (and a zombie after that). Peers only
  // ever read the word; nobody else locks it.
  pthread_mutex_t liveness;
  // 1: the owner watches `writeBell` (Backend::watchRemoteWrites). A writer then bumps the bell and
  // wakes its futex (process-shared: the word sits in the shared file) after each write it lands.
  // Builds without these fields never ring: their writes are found by polling, as before.
  std::atomic<uint32_t> notifyOnWrite;
  std::atomic<uint32_t> writeBell;
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "a futex word is a plain u32");
static_assert(sizeof(ShmHeader) <= kShmHeaderBytes, "shm header must fit its page");
// The layout is shared by every build that may map the same files (a rolling upgrade on one host),
// and tests/binding/shm-compat.test.ts writes an older build's header at these offsets.
static_assert(offsetof(ShmHeader, dataBytes) == 8 && offsetof(ShmHeader, ownerPid) == 16 && offsetof(ShmHeader, ownerId) == 20 &&
                  offsetof(ShmHeader, retired) == 24 && offsetof(ShmHeader, holder) == 28 && offsetof(ShmHeader, lock) == 32 &&
                  offsetof(ShmHeader, livenessHeld) == 72 && offsetof(ShmHeader, liveness) == 80 &&
                  offsetof(ShmHeader, notifyOnWrite) == 120 && offsetof(ShmHeader, writeBell) == 124,
              "shm header layout");

class ShmMapping : public RegionMemory {
 public:
  // Owner side: replaces any earlier file at `path` (retiring it first), returns the new mapping.
  static std::shared_ptr<ShmMapping> create(const std::string& path, PeerId ownerId, size_t dataBytes);
  // Owner side: a header-only file with no name (memfd), for a helper process that watches this
  // thread's liveness (the tcp fabric's herald, herald.h); `fdOut` is its descriptor (close-on-exec).
  static std::shared_ptr<ShmMapping> createLivenessOnly(PeerId ownerId, int& fdOut);
  // Peer side: nullptr with errno=ENOENT if the owner has not registered the region (yet).
  static std::shared_ptr<ShmMapping> open(const std::string& path);
  // The same for a file already open on `fd` (read-write); takes the descriptor and closes it.
  static std::shared_ptr<ShmMapping> mapOpened(int fd);
  ~ShmMapping() override;

  uint8_t* data() const override { return base_ + kShmHeaderBytes; }
  size_t bytes() const override { return dataBytes_; }
  ShmHeader* header() const { return reinterpret_cast<ShmHeader*>(base_); }

  // Lock the header; a lock left behind by a dead process is made consistent (and logged).
  void lock() const;
  void unlock() const;

  // Whether the owner's thread still holds the liveness lock: one load, cheap enough for every
  // post. A write that lands between the owner's death and the kernel's marking of the word is
  // indistinguishable from one that landed just before the owner crashed. A file of an older build
  // (no liveness lock) is checked by its owner's pid instead, at most once per kPidRecheckNs.
  bool ownerAlive();
  static constexpr uint64_t kPidRecheckNs = 1000000;
  // Owner side: unlock the liveness lock (close, or the mapping going away). Idempotent; must run
  // on the thread that created the region, before the memory is unmapped, since the lock sits on
  // that thread's robust list, which the kernel walks when the thread exits.
  void releaseLiveness();

  // Peer side: sleep while the owner holds the liveness lock, at most `timeoutMs`; true once the
  // owner is gone (it unlocked at close, or the kernel marked its death). It never locks: it sets
  // the word's FUTEX_WAITERS bit, so the owner's unlock, or the kernel walking the dead owner's
  // robust list, wakes one sleeper (which then wakes the others: wakeLivenessWatchers). A file of
  // an older build (no liveness lock) cannot be waited on: false after the timeout.
  bool waitWhileOwnerAlive(uint32_t timeoutMs);
  // Whether the owner's thread died holding the liveness lock (the kernel marked it), as opposed to
  // unlocking it at close.
  bool ownerDied() const;
  // Wake every waitWhileOwnerAlive sleeper, in any process (a watcher that saw the death; close).
  void wakeLivenessWatchers();

  // Writer side, after a write landed: if the owner watches this region, bump its bell and wake it.
  void ringIfWatched();
  // Owner side: sleep until the bell differs from `seen` (returns at once if it already does, and
  // may return spuriously); returns the bell's value.
  uint32_t waitBell(uint32_t seen);
  // Bump the bell and wake every waitBell sleeper (a writer's ring; the owner when closing).
  void wakeBellWaiters();

 private:
  ShmMapping(uint8_t* base, size_t mappedBytes, size_t dataBytes) : base_(base), mappedBytes_(mappedBytes), dataBytes_(dataBytes) {}
  uint8_t* base_;
  size_t mappedBytes_;
  size_t dataBytes_;
  bool holdsLiveness_ = false;
  uint64_t lastPidCheckNs_ = 0;
  bool pidAliveCached_ = true;
};

bool pidAlive(pid_t pid);

}  // namespace fabric
