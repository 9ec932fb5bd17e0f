#include "shm_region.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace fabric {

bool pidAlive(pid_t pid) {
  if (pid <= 0) return false;
  return kill(pid, 0) == 0 || errno == EPERM;
}

static void retireExisting(const std::string& path) {
  std::shared_ptr<ShmMapping> old = ShmMapping::open(path);
  if (old) {
    old->lock();
    old->header()->retired.store(1, std::memory_order_release);
    old->header()->holder = kNoPeer;
    old->unlock();
  }
  unlink(path.c_str());
}

// Fills a new file's header and takes its liveness lock on this thread (magic not yet published).
static void initHeaderHoldingLiveness(ShmHeader* header, PeerId ownerId, size_t dataBytes) {
  header->dataBytes = dataBytes;
  header->ownerPid = getpid();
  header->ownerId = ownerId;
  header->retired.store(0, std::memory_order_relaxed);
  header->holder = kNoPeer;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  FABRIC_ASSERT(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0);
  FABRIC_ASSERT(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
  FABRIC_ASSERT(pthread_mutex_init(&header->lock, &attr) == 0);
  FABRIC_ASSERT(pthread_mutex_init(&header->liveness, &attr) == 0);
  pthread_mutexattr_destroy(&attr);
  // Held before the file is published: a peer that can open it never sees an unheld lock of a live owner.
  FABRIC_ASSERT(pthread_mutex_lock(&header->liveness) == 0);
  header->livenessHeld.store(1, std::memory_order_relaxed);
}

std::shared_ptr<ShmMapping> ShmMapping::create(const std::string& path, PeerId ownerId, size_t dataBytes) {
  retireExisting(path);
  std::string tmpPath = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmpPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("shm: cannot create " + tmpPath + ": " + strerror(errno));
  size_t mappedBytes = kShmHeaderBytes + dataBytes;
  if (ftruncate(fd, off_t(mappedBytes)) != 0) {
    int err = errno;
    ::close(fd);
    unlink(tmpPath.c_str());
    throw std::runtime_error("shm: cannot size " + tmpPath + ": " + strerror(err));
  }
  void* base = mmap(nullptr, mappedBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) {
    unlink(tmpPath.c_str());
    throw std::runtime_error("shm: cannot map " + tmpPath + ": " + strerror(errno));
  }
  auto* header = static_cast<ShmHeader*>(base);
  initHeaderHoldingLiveness(header, ownerId, dataBytes);
  header->magic.store(kShmMagic, std::memory_order_release);
  // Publish atomically: a peer either finds no file or a fully initialised one.
  if (rename(tmpPath.c_str(), path.c_str()) != 0) {
    int err = errno;
    // Off this thread's robust list before the memory goes (see releaseLiveness).
    FABRIC_ASSERT(pthread_mutex_unlock(&header->liveness) == 0);
    munmap(base, mappedBytes);
    unlink(tmpPath.c_str());
    throw std::runtime_error("shm: cannot publish " + path + ": " + strerror(err));
  }
  auto mapping = std::shared_ptr<ShmMapping>(new ShmMapping(static_cast<uint8_t*>(base), mappedBytes, dataBytes));
  mapping->holdsLiveness_ = true;
  return mapping;
}

std::shared_ptr<ShmMapping> ShmMapping::createLivenessOnly(PeerId ownerId, int& fdOut) {
  int fd = memfd_create("mucached-liveness", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("shm: memfd_create: ") + strerror(errno));
  if (ftruncate(fd, off_t(kShmHeaderBytes)) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("shm: cannot size a liveness file: ") + strerror(err));
  }
  void* base = mmap(nullptr, kShmHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("shm: cannot map a liveness file: ") + strerror(err));
  }
  auto* header = static_cast<ShmHeader*>(base);
  initHeaderHoldingLiveness(header, ownerId, 0);
  header->magic.store(kShmMagic, std::memory_order_release);
  auto mapping = std::shared_ptr<ShmMapping>(new ShmMapping(static_cast<uint8_t*>(base), kShmHeaderBytes, 0));
  mapping->holdsLiveness_ = true;
  fdOut = fd;
  return mapping;
}

std::shared_ptr<ShmMapping> ShmMapping::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return nullptr;
  return mapOpened(fd);
}

std::shared_ptr<ShmMapping> ShmMapping::mapOpened(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || size_t(st.st_size) < kShmHeaderBytes) {
    ::close(fd);
    errno = EINVAL;
    return nullptr;
  }
  size_t mappedBytes = size_t(st.st_size);
  void* base = mmap(nullptr, mappedBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) return nullptr;
  auto* header = static_cast<ShmHeader*>(base);
  if (header->magic.load(std::memory_order_acquire) != kShmMagic || kShmHeaderBytes + header->dataBytes > mappedBytes) {
    munmap(base, mappedBytes);
    errno = EINVAL;
    return nullptr;
  }
  return std::shared_ptr<ShmMapping>(new ShmMapping(static_cast<uint8_t*>(base), mappedBytes, header->dataBytes));
}

ShmMapping::~ShmMapping() {
  releaseLiveness();
  munmap(base_, mappedBytes_);
}

void ShmMapping::releaseLiveness() {
  if (!holdsLiveness_) return;
  holdsLiveness_ = false;
  // EPERM here would be another thread: the lock would stay on the creator's robust list pointing
  // into memory about to be unmapped, and the kernel's walk at that thread's exit would stop there.
  FABRIC_ASSERT(pthread_mutex_unlock(&header()->liveness) == 0);
}

void ShmMapping::lock() const {
  int rc = pthread_mutex_lock(&header()->lock);
  if (rc == EOWNERDEAD) {
    // The dead holder was at most inside one memcpy: the bytes it was writing may be torn, which
    // Mu detects per slot (length + checksum). The permission word is only ever set whole.
    logLine("shm: a process died holding the lock of a region owned by node %d; lock recovered", header()->ownerId);
    rc = pthread_mutex_consistent(&header()->lock);
  }
  FABRIC_ASSERT(rc == 0);
}

void ShmMapping::unlock() const { FABRIC_ASSERT(pthread_mutex_unlock(&header()->lock) == 0); }

namespace {
// Process-shared futex calls (no FUTEX_PRIVATE_FLAG): the word lives in a file mapped by several
// processes, and the kernel keys it by file and offset. A null timeout waits without bound.
long futexWait(void* word, uint32_t expected, const timespec* timeout = nullptr) {
  return syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, nullptr, 0);
}
void futexWakeAll(void* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}
// A robust mutex's futex word names no live holder: unlocked, or its holder died (kernel ABI).
bool holderGone(int word) {
  return (word & FUTEX_TID_MASK) == 0 || (word & FUTEX_OWNER_DIED) != 0;
}
}  // namespace

bool ShmMapping::ownerAlive() {
  if (header()->livenessHeld.load(std::memory_order_acquire) != 1) {
    uint64_t now = monotonicNs();
    if (now - lastPidCheckNs_ >= kPidRecheckNs) {
      lastPidCheckNs_ = now;
      pidAliveCached_ = pidAlive(header()->ownerPid);
    }
    return pidAliveCached_;
  }
  // For a robust mutex the futex word holds the holder's thread id (kernel ABI): 0 once unlocked,
  // FUTEX_OWNER_DIED with no id once the kernel cleaned up after the holder's death.
  return !holderGone(__atomic_load_n(&header()->liveness.__data.__lock, __ATOMIC_ACQUIRE));
}

bool ShmMapping::ownerDied() const {
  return header()->livenessHeld.load(std::memory_order_acquire) == 1 &&
         (__atomic_load_n(&header()->liveness.__data.__lock, __ATOMIC_ACQUIRE) & FUTEX_OWNER_DIED) != 0;
}

bool ShmMapping::waitWhileOwnerAlive(uint32_t timeoutMs) {
  timespec timeout{time_t(timeoutMs / 1000), long(timeoutMs % 1000) * 1000000L};
  if (header()->livenessHeld.load(std::memory_order_acquire) != 1) {
    nanosleep(&timeout, nullptr);
    return false;
  }
  int* word = &header()->liveness.__data.__lock;
  int seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  if (holderGone(seen)) return true;
  int waiting = seen | FUTEX_WAITERS;
  // The owner's glibc unlock wakes a sleeper only if this bit is set, and so does the kernel when it
  // releases a dead thread's robust locks. If the word changed meanwhile, look again.
  if (seen != waiting && !__atomic_compare_exchange_n(word, &seen, waiting, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return false;
  futexWait(word, uint32_t(waiting), &timeout);
  return holderGone(__atomic_load_n(word, __ATOMIC_ACQUIRE));
}

void ShmMapping::wakeLivenessWatchers() { futexWakeAll(&header()->liveness.__data.__lock); }

void ShmMapping::ringIfWatched() {
  if (header()->notifyOnWrite.load(std::memory_order_acquire) != 0) wakeBellWaiters();
}

uint32_t ShmMapping::waitBell(uint32_t seen) {
  std::atomic<uint32_t>* bell = &header()->writeBell;
  // A ring between the caller's last load and this call changed the word: the kernel then returns
  // EAGAIN at once instead of sleeping, so no ring is missed.
  if (bell->load(std::memory_order_acquire) == seen) futexWait(bell, seen);
  return bell->load(std::memory_order_acquire);
}

void ShmMapping::wakeBellWaiters() {
  header()->writeBell.fetch_add(1, std::memory_order_release);
  futexWakeAll(&header()->writeBell);
}

}  // namespace fabric
