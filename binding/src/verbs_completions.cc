// verbs backend: the completion queue. Work completions become the same Completion records as on
// shm and tcp (verbs_policy.h maps the status); a failed one also tears the peer's QP down, since
// RC leaves it in the error state. Every function here runs with mu_ held.
#include <errno.h>

#include <cstring>

#include "verbs_backend.h"

namespace fabric {

void VerbsBackend::pollCqLocked() {
  ibv_wc wcs[32];
  // Bounded per call; whatever is left raises the next completion event or the next poll.
  for (int round = 0; round < 64; round++) {
    int n = ibv_poll_cq(cq_, 32, wcs);
    if (n < 0) {
      logLine("node %d: ibv_poll_cq failed (%d)", self_, n);
      return;
    }
    for (int i = 0; i < n; i++) onWorkCompletionLocked(wcs[i]);
    if (n < 32) return;
  }
}

void VerbsBackend::onWorkCompletionLocked(const ibv_wc& wc) {
  if (wc.wr_id & kInternalWr) {
    auto it = peers_.find(internalPeer(wc.wr_id));
    if (it == peers_.end()) return;
    VerbsPeer& peer = it->second;
    // Completions of a QP that has been torn down since are stale.
    if (!peer.qp || internalGeneration(wc.wr_id) != (peer.generation & 0xffffff)) return;
    if (wc.status != IBV_WC_SUCCESS)
      return teardownLocked(peer, std::string("advertisement exchange: ") + ibv_wc_status_str(wc.status), true, peer.backoffNs);
    int slot = internalSlot(wc.wr_id);
    FABRIC_ASSERT(slot >= 0 && slot < kRecvSlots);
    if (wc.wr_id & kInternalRecv) {
      onAdsLocked(peer, peer.recvBuffers.data() + size_t(slot) * kAdMessageBytes, wc.byte_len);
      if (peer.qp && !postRecvLocked(peer, slot)) teardownLocked(peer, "ibv_post_recv failed", true, peer.backoffNs);
    } else {
      peer.sendSlotsBusy &= ~(1u << slot);
      if (peer.adsDirty) sendAdsLocked(peer);
    }
    return;
  }
  auto it = ops_.find(wc.wr_id);
  if (it == ops_.end()) return;  // already failed by a teardown of its QP
  VerbsOp op = std::move(it->second);
  ops_.erase(it);
  inFlight_.fetch_sub(1, std::memory_order_relaxed);
  Completion c;
  c.wrId = wc.wr_id;
  c.peerId = op.peer;
  c.isRead = op.isRead;
  c.error = completionError(wc.status);
  if (c.error == ErrorKind::Permission)
    c.detail = "node " + std::to_string(op.peer) + " refused: no write permission (" + ibv_wc_status_str(wc.status) + ")";
  else if (c.error != ErrorKind::None)
    c.detail = "node " + std::to_string(op.peer) + ": " + ibv_wc_status_str(wc.status) + (op.isRead ? "" : "; the write may have landed");
  if (op.isRead && c.error == ErrorKind::None) {
    const uint8_t* from = op.slot >= 0 ? staging_.at(op.slot) : op.owned.data();
    c.readData.assign(from, from + op.length);
    c.hasReadData = true;
  }
  unstageLocked(op);
  completions_.push(std::move(c));
  if (breaksQueuePair(wc.status)) {
    auto peer = peers_.find(op.peer);
    if (peer != peers_.end() && peer->second.qp && peer->second.generation == op.generation)
      teardownLocked(peer->second, std::string("queue pair in error after ") + ibv_wc_status_str(wc.status), true, peer->second.backoffNs);
  }
}

bool VerbsBackend::stageLocked(VerbsOp& op, const uint8_t* data, size_t length, ibv_sge& sge, std::string& why) {
  uint8_t* at = nullptr;
  uint32_t lkey = 0;
  if (length <= StagingPool::kSlotBytes && (op.slot = staging_.take()) >= 0) {
    at = staging_.at(op.slot);
    lkey = staging_.lkey();
  } else {
    // Large (or every slot busy): registering per operation is slow but keeps any size working.
    op.owned.resize(length);
    op.ownedMr = ibv_reg_mr(pd_, op.owned.data(), length, IBV_ACCESS_LOCAL_WRITE);
    if (!op.ownedMr) {
      why = "verbs: ibv_reg_mr of a " + std::to_string(length) + "-byte bounce buffer: " + strerror(errno);
      op.owned.clear();
      return false;
    }
    at = op.owned.data();
    lkey = op.ownedMr->lkey;
  }
  if (data) memcpy(at, data, length);
  sge.addr = uint64_t(reinterpret_cast<uintptr_t>(at));
  sge.length = uint32_t(length);
  sge.lkey = lkey;
  return true;
}

void VerbsBackend::unstageLocked(VerbsOp& op) {
  if (op.slot >= 0) staging_.give(op.slot);
  op.slot = -1;
  if (op.ownedMr) ibv_dereg_mr(op.ownedMr);
  op.ownedMr = nullptr;
  op.owned.clear();
}

void VerbsBackend::failPeerOpsLocked(PeerId peer, const std::string& why) {
  for (auto it = ops_.begin(); it != ops_.end();) {
    if (it->second.peer != peer) {
      ++it;
      continue;
    }
    VerbsOp& op = it->second;
    unstageLocked(op);
    complete(it->first, peer, op.isRead, ErrorKind::Unreachable,
             "connection to node " + std::to_string(peer) + " lost (" + why + ")" + (op.isRead ? "" : "; the write may have landed"));
    inFlight_.fetch_sub(1, std::memory_order_relaxed);
    it = ops_.erase(it);
  }
}

}  // namespace fabric
