#include "verbs_policy.h"

#include <algorithm>
#include <cstring>

#include <arpa/inet.h>
#include <errno.h>

namespace fabric {

int qpAccessFlags(PeerId peer, const std::map<std::string, PeerId>& holders) {
  int flags = IBV_ACCESS_REMOTE_READ;
  if (peer == kNoPeer) return flags;
  for (const auto& [region, holder] : holders)
    if (holder == peer) return flags | IBV_ACCESS_REMOTE_WRITE;
  return flags;
}

std::vector<PeerId> peersAffectedByGrant(PeerId previous, PeerId next) {
  std::vector<PeerId> out;
  if (previous == next) return out;
  if (previous != kNoPeer) out.push_back(previous);
  if (next != kNoPeer) out.push_back(next);
  return out;
}

AccessChange classifyModifyResult(int err) { return err == 0 ? AccessChange::Applied : AccessChange::Recreate; }

ErrorKind completionError(ibv_wc_status status) {
  switch (status) {
    case IBV_WC_SUCCESS: return ErrorKind::None;
    case IBV_WC_REM_ACCESS_ERR: return ErrorKind::Permission;
    // Everything else: the operation did not complete at the peer as far as we can tell
    // (retry exceeded, flushed by a QP in error, local/remote operation errors).
    default: return ErrorKind::Unreachable;
  }
}

bool breaksQueuePair(ibv_wc_status status) { return status != IBV_WC_SUCCESS; }

ErrorKind checkRemoteAccess(const std::map<std::string, RegionAd>& ads, const std::string& region, uint64_t offset, uint64_t length) {
  auto it = ads.find(region);
  if (it == ads.end()) return ErrorKind::NoRegion;
  const RegionAd& ad = it->second;
  if (offset > ad.bytes || length > ad.bytes - offset) return ErrorKind::Bounds;
  return ErrorKind::None;
}

bool isIpAddress(const std::string& text) {
  uint8_t scratch[16];
  return inet_pton(AF_INET, text.c_str(), scratch) == 1 || inet_pton(AF_INET6, text.c_str(), scratch) == 1;
}

std::string roceV2Address(const std::vector<GidEntry>& entries) {
  static const uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN] = "";
  for (const GidEntry& e : entries) {
    if (e.type != IBV_GID_TYPE_ROCE_V2 || memcmp(e.gid.data(), kV4MappedPrefix, 12) != 0) continue;
    inet_ntop(AF_INET, e.gid.data() + 12, text, sizeof text);
    return text;
  }
  for (const GidEntry& e : entries) {
    bool linkLocal = e.gid[0] == 0xfe && (e.gid[1] & 0xc0) == 0x80;
    bool zero = std::all_of(e.gid.begin(), e.gid.end(), [](uint8_t b) { return b == 0; });
    if (e.type != IBV_GID_TYPE_ROCE_V2 || linkLocal || zero) continue;
    inet_ntop(AF_INET6, e.gid.data(), text, sizeof text);
    return text;
  }
  return "";
}

}  // namespace fabric
