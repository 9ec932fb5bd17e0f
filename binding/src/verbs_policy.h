// The verbs backend's decisions, apart from the verbs calls that carry them out. Pure logic over
// libibverbs' constants (header only, nothing linked), unit-tested by binding/test/verbs_pure_test.cc.
#pragma once
#include <infiniband/verbs.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "fabric_types.h"
#include "verbs_wire.h"

namespace fabric {

// QP access flags are per queue pair, and there is one QP per peer: a peer's QP allows remote
// writes iff that peer holds write permission on at least one local region. (Finer, per-region
// enforcement would need one QP per peer and region; Mu grants a peer its whole log.)
// Remote reads are always allowed, as on shm and tcp.
int qpAccessFlags(PeerId peer, const std::map<std::string, PeerId>& holders);

// The peers whose QP access may change when `region` passes from `previous` to `next`.
std::vector<PeerId> peersAffectedByGrant(PeerId previous, PeerId next);

// What to do after ibv_modify_qp(IBV_QP_ACCESS_FLAGS) in RTS returned `err` (0 = success).
enum class AccessChange { Applied, Recreate };
// EINVAL/EOPNOTSUPP are how devices refuse an access change in RTS; any other failure leaves the
// QP's flags unknown, so it is re-created too (a revocation must never be left half done).
AccessChange classifyModifyResult(int err);

// Completion status -> the error mu-core sees. IBV_WC_REM_ACCESS_ERR is the owner refusing the
// write (no permission); transport, retry and flush errors mean the peer is unreachable.
ErrorKind completionError(ibv_wc_status status);
// Whether a completion with this status left the QP in the error state (every non-success status
// does on RC: the connection must be re-established before the next operation).
bool breaksQueuePair(ibv_wc_status status);

// Checks a one-sided operation against the peer's advertisement before posting it, so that a
// bad offset is reported as 'bounds' (as on shm/tcp) rather than breaking the QP.
ErrorKind checkRemoteAccess(const std::map<std::string, RegionAd>& ads, const std::string& region, uint64_t offset, uint64_t length);

// Device selection. options.device may be a device name (mlx5_0) or an IP address; options.gid an
// IP address or a RoCE v2 GID (an IPv4-mapped IPv6 address). rdma_cm needs an address to bind, so a
// device given only by name is reached through the address of one of its RoCE v2 GIDs.
bool isIpAddress(const std::string& text);
struct GidEntry {
  std::array<uint8_t, 16> gid{};
  uint32_t type = 0;  // enum ibv_gid_type
  uint32_t port = 0;
};
// The address to bind for a device given by name: its first RoCE v2 GID that is an IPv4-mapped
// address, else its first global (not link-local) IPv6 RoCE v2 GID; "" if it has neither (an
// InfiniBand-only device, or no IP configured on its netdev).
std::string roceV2Address(const std::vector<GidEntry>& entries);

}  // namespace fabric
