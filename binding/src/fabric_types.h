// Types shared by every backend and the Node-API layer. Mirrors binding/fabric.ts.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace fabric {

using PeerId = int32_t;
// Node ids are 1..N (DESIGN.md, "Ports and names"); 0 therefore means "no peer" in permission words.
constexpr PeerId kNoPeer = 0;

// Gone: the peer's side answered that nothing serves the endpoint any more (its process died or
// closed its fabric): certain, where Unreachable may be a slow link. Never sent on the tcp wire.
enum class ErrorKind : uint8_t { None = 0, Permission = 1, Unreachable = 2, Bounds = 3, NoRegion = 4, Gone = 5 };
const char* errorKindName(ErrorKind kind);

enum class PeerState : uint8_t { Connecting = 0, Connected = 1, Unreachable = 2 };
const char* peerStateName(PeerState state);

struct Completion {
  uint64_t wrId = 0;
  PeerId peerId = kNoPeer;
  bool isRead = false;
  ErrorKind error = ErrorKind::None;
  std::string detail;
  // tcp/verbs reads: the bytes that arrived; the JS thread copies them into the caller's Buffer.
  // Empty for shm reads, which copy straight into the caller's Buffer while posting.
  std::vector<uint8_t> readData;
  bool hasReadData = false;
};

// Memory behind a local region. The JS Buffer over it keeps one shared_ptr alive, so closing the
// fabric never leaves a Buffer pointing at unmapped memory.
class RegionMemory {
 public:
  virtual ~RegionMemory() = default;
  virtual uint8_t* data() const = 0;
  virtual size_t bytes() const = 0;
};

// Crash loudly rather than corrupt a peer's memory: enabled in every build type.
[[noreturn]] void invariantFailed(const char* expr, const char* file, int line);
#define FABRIC_ASSERT(expr) ((expr) ? (void)0 : ::fabric::invariantFailed(#expr, __FILE__, __LINE__))

// One log line on stderr, prefixed so several nodes' output in one terminal stays readable.
void logLine(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Region and cluster names end up in file names and frames: [A-Za-z0-9_.-]{1,64}.
bool validName(const std::string& name);
constexpr size_t kMaxNameBytes = 64;

uint64_t monotonicNs();

}  // namespace fabric
