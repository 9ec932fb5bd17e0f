// One shm region file: a header page (permission word, robust process-shared lock, owner pid) and
// then the region's bytes. The owner creates it; peers map it to write and read one-sided.
#pragma once
#include <pthread.h>
#include <sys/types.h>

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
};
static_assert(sizeof(ShmHeader) <= kShmHeaderBytes, "shm header must fit its page");

class ShmMapping : public RegionMemory {
 public:
  // Owner side: replaces any earlier file at `path` (retiring it first), returns the new mapping.
  static std::shared_ptr<ShmMapping> create(const std::string& path, PeerId ownerId, size_t dataBytes);
  // Peer side: nullptr with errno=ENOENT if the owner has not registered the region (yet).
  static std::shared_ptr<ShmMapping> open(const std::string& path);
  ~ShmMapping() override;

  uint8_t* data() const override { return base_ + kShmHeaderBytes; }
  size_t bytes() const override { return dataBytes_; }
  ShmHeader* header() const { return reinterpret_cast<ShmHeader*>(base_); }

  // Lock the header; a lock left behind by a dead process is made consistent (and logged).
  void lock() const;
  void unlock() const;

  // Owner liveness, re-checked at most once per kLivenessRecheckNs: a write that lands in that
  // window is indistinguishable from one that landed just before the owner crashed.
  bool ownerAlive();
  static constexpr uint64_t kLivenessRecheckNs = 1000000;

 private:
  ShmMapping(uint8_t* base, size_t mappedBytes, size_t dataBytes) : base_(base), mappedBytes_(mappedBytes), dataBytes_(dataBytes) {}
  uint8_t* base_;
  size_t mappedBytes_;
  size_t dataBytes_;
  uint64_t lastLivenessCheckNs_ = 0;
  bool ownerAliveCached_ = true;
};

bool pidAlive(pid_t pid);

}  // namespace fabric
