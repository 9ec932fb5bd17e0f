#include <cstdarg>
#include <ctime>

#include "fabric_types.h"

namespace fabric {

const char* errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::None: return "none";
    case ErrorKind::Permission: return "permission";
    case ErrorKind::Unreachable: return "unreachable";
    case ErrorKind::Bounds: return "bounds";
    case ErrorKind::NoRegion: return "no-region";
    case ErrorKind::Gone: return "gone";
  }
  return "unreachable";
}

const char* peerStateName(PeerState state) {
  switch (state) {
    case PeerState::Connecting: return "connecting";
    case PeerState::Connected: return "connected";
    case PeerState::Unreachable: return "unreachable";
  }
  return "unreachable";
}

void invariantFailed(const char* expr, const char* file, int line) {
  fprintf(stderr, "[fabric] invariant violated: %s at %s:%d\n", expr, file, line);
  fflush(stderr);
  abort();
}

void logLine(const char* fmt, ...) {
  char line[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(line, sizeof line, fmt, args);
  va_end(args);
  fprintf(stderr, "[fabric] %s\n", line);
}

bool validName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

uint64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

}  // namespace fabric
