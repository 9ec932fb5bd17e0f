// verbs backend: one RC connection per peer through rdma_cm, with the QP created and moved
// through INIT/RTR/RTS by us (so its access flags are ours from the start), the region
// advertisement exchange, access-flag changes and teardown. Every function here runs with mu_ held.
#include <errno.h>

#include <cstring>
#include <stdexcept>

#include "verbs_backend.h"

namespace fabric {

VerbsPeer* VerbsBackend::peerByCmId(rdma_cm_id* id) {
  for (auto& [pid, peer] : peers_)
    if (peer.cmId == id) return &peer;
  return nullptr;
}

void VerbsBackend::startConnectLocked(VerbsPeer& peer, uint64_t nowNs) {
  FABRIC_ASSERT(peer.active && peer.phase == VerbsPhase::Idle && !peer.cmId && !peer.qp);
  peer.deadlineNs = nowNs + kHandshakeTimeoutNs;
  if (peer.state != PeerState::Unreachable) peer.state = PeerState::Connecting;
  rdma_cm_id* id = nullptr;
  if (rdma_create_id(cmChannel_, &id, nullptr, RDMA_PS_TCP) != 0)
    return teardownLocked(peer, std::string("rdma_create_id: ") + strerror(errno), true, peer.backoffNs);
  peer.cmId = id;
  peer.phase = VerbsPhase::Resolving;
  // From our own address, so the connection leaves through the device we opened.
  sockaddr_storage source = bindAddress_;
  if (source.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&source)->sin_port = 0;
  else reinterpret_cast<sockaddr_in6*>(&source)->sin6_port = 0;
  if (rdma_resolve_addr(id, reinterpret_cast<sockaddr*>(&source), reinterpret_cast<sockaddr*>(&peer.address), kResolveTimeoutMs) != 0)
    teardownLocked(peer, std::string("rdma_resolve_addr: ") + strerror(errno), true, peer.backoffNs);
}

static rdma_conn_param connParam(const std::vector<uint8_t>& privateData, uint32_t qpNum, int rdAtomic) {
  rdma_conn_param param{};
  param.private_data = privateData.data();
  param.private_data_len = uint8_t(privateData.size());
  param.responder_resources = uint8_t(rdAtomic);
  param.initiator_depth = uint8_t(rdAtomic);
  param.retry_count = 7;
  param.rnr_retry_count = 7;  // 7: retry forever while the peer has no receive posted
  param.qp_num = qpNum;
  return param;
}

void VerbsBackend::onCmEvent(rdma_cm_event_type type, int status, rdma_cm_id* id, const std::vector<uint8_t>& privateData) {
  if (type == RDMA_CM_EVENT_CONNECT_REQUEST) return onConnectRequestLocked(id, privateData);
  VerbsPeer* peer = peerByCmId(id);
  if (!peer) return;  // an id torn down since the event was queued
  std::string why;
  switch (type) {
    case RDMA_CM_EVENT_ADDR_RESOLVED:
      if (rdma_resolve_route(id, kResolveTimeoutMs) != 0) teardownLocked(*peer, std::string("rdma_resolve_route: ") + strerror(errno), true, peer->backoffNs);
      return;
    case RDMA_CM_EVENT_ROUTE_RESOLVED: {
      if (!createQpLocked(*peer, id, why)) return teardownLocked(*peer, why, true, peer->backoffNs);
      std::vector<uint8_t> data = encodeConnectData(ConnectData{self_, clusterHash_});
      rdma_conn_param param = connParam(data, peer->qp->qp_num, rdAtomic_);
      if (rdma_connect(id, &param) != 0) return teardownLocked(*peer, std::string("rdma_connect: ") + strerror(errno), true, peer->backoffNs);
      peer->phase = VerbsPhase::Connecting;
      return;
    }
    case RDMA_CM_EVENT_CONNECT_RESPONSE: {  // active side: the QP is ours, so we finish the transitions
      ConnectData answer;
      if (!decodeConnectData(privateData.data(), privateData.size(), answer, why)) return teardownLocked(*peer, "bad accept from the peer: " + why, true, peer->backoffNs);
      if (answer.nodeId != peer->id || answer.clusterHash != clusterHash_)
        return teardownLocked(*peer, "the peer is node " + std::to_string(answer.nodeId) + (answer.clusterHash != clusterHash_ ? " of another cluster" : ""), true, peer->backoffNs);
      if (!moveQpLocked(*peer, IBV_QPS_RTR, why) || !moveQpLocked(*peer, IBV_QPS_RTS, why)) return teardownLocked(*peer, why, true, peer->backoffNs);
      if (rdma_establish(id) != 0) return teardownLocked(*peer, std::string("rdma_establish: ") + strerror(errno), true, peer->backoffNs);
      return onEstablishedLocked(*peer);
    }
    case RDMA_CM_EVENT_ESTABLISHED:
      return onEstablishedLocked(*peer);
    case RDMA_CM_EVENT_REJECTED:
      return teardownLocked(*peer, "the peer refused the connection (another cluster, or it has not called connectPeer for us yet)", true, peer->backoffNs);
    case RDMA_CM_EVENT_DISCONNECTED:
      return teardownLocked(*peer, "the peer disconnected", true, kFirstBackoffNs);
    case RDMA_CM_EVENT_TIMEWAIT_EXIT:
      return;
    default:  // ADDR_ERROR, ROUTE_ERROR, CONNECT_ERROR, UNREACHABLE, DEVICE_REMOVAL, ...
      return teardownLocked(*peer, std::string(rdma_event_str(type)) + " (status " + std::to_string(status) + ")", true, peer->backoffNs);
  }
}

void VerbsBackend::onConnectRequestLocked(rdma_cm_id* id, const std::vector<uint8_t>& privateData) {
  ConnectData hello;
  std::string why;
  auto refuse = [&](const std::string& reason) {
    logLine("node %d: refused an RDMA connection: %s", self_, reason.c_str());
    rdma_reject(id, nullptr, 0);
    rdma_destroy_id(id);
  };
  if (!decodeConnectData(privateData.data(), privateData.size(), hello, why)) return refuse(why);
  if (hello.clusterHash != clusterHash_) return refuse("node " + std::to_string(hello.nodeId) + " is of another cluster");
  auto it = peers_.find(hello.nodeId);
  if (it == peers_.end()) return refuse("node " + std::to_string(hello.nodeId) + " is not a peer yet (connectPeer was not called for it)");
  VerbsPeer& peer = it->second;
  if (peer.active) return refuse("node " + std::to_string(hello.nodeId) + " has a higher id than ours, so we connect to it");
  // The peer restarted or re-created its QP: the new connection replaces the old one.
  if (peer.cmId) teardownLocked(peer, "replaced by a new connection from the same node", false, 0);
  peer.cmId = id;
  peer.deadlineNs = monotonicNs() + kHandshakeTimeoutNs;
  if (!createQpLocked(peer, id, why) || !moveQpLocked(peer, IBV_QPS_RTR, why) || !moveQpLocked(peer, IBV_QPS_RTS, why)) {
    rdma_reject(id, nullptr, 0);
    return teardownLocked(peer, why, false, 0);
  }
  std::vector<uint8_t> data = encodeConnectData(ConnectData{self_, clusterHash_});
  rdma_conn_param param = connParam(data, peer.qp->qp_num, rdAtomic_);
  if (rdma_accept(id, &param) != 0) return teardownLocked(peer, std::string("rdma_accept: ") + strerror(errno), false, 0);
  peer.phase = VerbsPhase::Connecting;
}

bool VerbsBackend::createQpLocked(VerbsPeer& peer, rdma_cm_id* id, std::string& why) {
  if (id->verbs != context_) {
    why = "the peer is reached through another RDMA device than the one this fabric opened";
    return false;
  }
  peer.generation++;
  ibv_qp_init_attr attr{};
  attr.send_cq = cq_;
  attr.recv_cq = cq_;
  attr.qp_type = IBV_QPT_RC;
  attr.sq_sig_all = 0;
  attr.cap.max_send_wr = kMaxSendWr;
  attr.cap.max_recv_wr = kRecvSlots;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.cap.max_inline_data = kWantInline;
  peer.qp = ibv_create_qp(pd_, &attr);
  if (!peer.qp) {  // some devices have no inline data
    attr.cap.max_inline_data = 0;
    peer.qp = ibv_create_qp(pd_, &attr);
  }
  if (!peer.qp) {
    why = std::string("ibv_create_qp: ") + strerror(errno);
    return false;
  }
  peer.maxInline = attr.cap.max_inline_data;
  peer.recvBuffers.assign(size_t(kRecvSlots) * kAdMessageBytes, 0);
  peer.sendBuffer.assign(size_t(kRecvSlots) * kAdMessageBytes, 0);
  peer.recvMr = ibv_reg_mr(pd_, peer.recvBuffers.data(), peer.recvBuffers.size(), IBV_ACCESS_LOCAL_WRITE);
  peer.sendMr = ibv_reg_mr(pd_, peer.sendBuffer.data(), peer.sendBuffer.size(), 0);
  if (!peer.recvMr || !peer.sendMr) {
    why = std::string("ibv_reg_mr (advertisement buffers): ") + strerror(errno);
    return false;
  }
  peer.sendSlotsBusy = 0;
  peer.adsDirty = false;
  if (!moveQpLocked(peer, IBV_QPS_INIT, why)) return false;
  // Receives may be posted in INIT: they are in place before the peer can send its advertisement.
  for (int slot = 0; slot < kRecvSlots; slot++) {
    if (!postRecvLocked(peer, slot)) {
      why = "ibv_post_recv failed";
      return false;
    }
  }
  return true;
}

bool VerbsBackend::moveQpLocked(VerbsPeer& peer, ibv_qp_state state, std::string& why) {
  ibv_qp_attr attr{};
  int mask = 0;
  attr.qp_state = state;
  if (rdma_init_qp_attr(peer.cmId, &attr, &mask) != 0) {
    why = std::string("rdma_init_qp_attr: ") + strerror(errno);
    return false;
  }
  // rdma_cm would grant remote write at RTR; the flags are ours (qpAccessFlags) at every step.
  int access = qpAccessFlags(peer.id, holders_);
  if (state == IBV_QPS_INIT || (mask & IBV_QP_ACCESS_FLAGS)) {
    attr.qp_access_flags = unsigned(access);
    mask |= IBV_QP_ACCESS_FLAGS;
  }
  int rc = ibv_modify_qp(peer.qp, &attr, mask);
  if (rc != 0) {
    why = std::string("ibv_modify_qp to state ") + std::to_string(int(state)) + ": " + strerror(rc);
    return false;
  }
  if (mask & IBV_QP_ACCESS_FLAGS) peer.appliedAccess = access;
  return true;
}

bool VerbsBackend::postRecvLocked(VerbsPeer& peer, int slot) {
  ibv_sge sge{};
  sge.addr = uint64_t(reinterpret_cast<uintptr_t>(peer.recvBuffers.data() + size_t(slot) * kAdMessageBytes));
  sge.length = uint32_t(kAdMessageBytes);
  sge.lkey = peer.recvMr->lkey;
  ibv_recv_wr wr{};
  wr.wr_id = internalWrId(true, peer.id, peer.generation, slot);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad = nullptr;
  return ibv_post_recv(peer.qp, &wr, &bad) == 0;
}

void VerbsBackend::onEstablishedLocked(VerbsPeer& peer) {
  if (peer.phase == VerbsPhase::Established || peer.phase == VerbsPhase::Ready) return;
  peer.phase = VerbsPhase::Established;
  sendAdsLocked(peer);
  maybeReadyLocked(peer);
}

void VerbsBackend::sendAdsLocked(VerbsPeer& peer) {
  if (!peer.qp) return;
  int slot = -1;
  for (int i = 0; i < kRecvSlots && slot < 0; i++)
    if (!(peer.sendSlotsBusy & (1u << i))) slot = i;
  if (slot < 0) {
    peer.adsDirty = true;  // sent again when a slot completes
    return;
  }
  std::vector<uint8_t> message = encodeRegionAds(localAdsLocked());
  uint8_t* buffer = peer.sendBuffer.data() + size_t(slot) * kAdMessageBytes;
  memcpy(buffer, message.data(), message.size());
  ibv_sge sge{};
  sge.addr = uint64_t(reinterpret_cast<uintptr_t>(buffer));
  sge.length = uint32_t(message.size());
  sge.lkey = peer.sendMr->lkey;
  ibv_send_wr wr{};
  wr.wr_id = internalWrId(false, peer.id, peer.generation, slot);
  wr.opcode = IBV_WR_SEND;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(peer.qp, &wr, &bad);
  if (rc != 0) return teardownLocked(peer, std::string("posting the region advertisement: ") + strerror(rc), true, peer.backoffNs);
  peer.sendSlotsBusy |= 1u << slot;
  peer.adsDirty = false;
}

void VerbsBackend::onAdsLocked(VerbsPeer& peer, const uint8_t* bytes, size_t length) {
  std::string why;
  std::map<std::string, RegionAd> ads;
  if (!decodeRegionAds(bytes, length, ads, why)) return teardownLocked(peer, "bad region advertisement: " + why, true, peer.backoffNs);
  peer.remote.swap(ads);
  peer.adsReceived = true;
  maybeReadyLocked(peer);
}

void VerbsBackend::maybeReadyLocked(VerbsPeer& peer) {
  if (peer.phase != VerbsPhase::Established || !peer.adsReceived) return;
  peer.phase = VerbsPhase::Ready;
  peer.state = PeerState::Connected;
  peer.backoffNs = kFirstBackoffNs;
  if (peer.loggedFailure) logLine("node %d: connected to node %d", self_, peer.id);
  peer.loggedFailure = false;
}

void VerbsBackend::applyAccessLocked(VerbsPeer& peer) {
  if (!peer.qp) return;  // set from INIT on at the next connection
  int desired = qpAccessFlags(peer.id, holders_);
  if (desired == peer.appliedAccess) return;
  if (peer.phase != VerbsPhase::Established && peer.phase != VerbsPhase::Ready)
    return teardownLocked(peer, "access flags changed while connecting", true, 0);
  ibv_qp_attr attr{};
  attr.qp_access_flags = unsigned(desired);
  int rc = ibv_modify_qp(peer.qp, &attr, IBV_QP_ACCESS_FLAGS);
  if (classifyModifyResult(rc) == AccessChange::Applied) {
    peer.appliedAccess = desired;
    return;
  }
  // The device refuses access changes in RTS (or failed): destroying the QP revokes synchronously,
  // and the new connection gets the new flags from INIT on.
  teardownLocked(peer, std::string("re-creating the queue pair: the device refused an access change in RTS (") + strerror(rc) + ")", true, 0);
}

void VerbsBackend::teardownLocked(VerbsPeer& peer, const std::string& why, bool retry, uint64_t retryDelayNs) {
  bool wasReady = peer.phase == VerbsPhase::Ready;
  if (peer.cmId && peer.phase != VerbsPhase::Resolving) rdma_disconnect(peer.cmId);
  // The QP goes first: once it is destroyed nothing from the peer lands, and the device no longer
  // touches our staging or advertisement buffers.
  if (peer.qp) ibv_destroy_qp(peer.qp);
  peer.qp = nullptr;
  if (peer.cmId) rdma_destroy_id(peer.cmId);
  peer.cmId = nullptr;
  if (peer.recvMr) ibv_dereg_mr(peer.recvMr);
  if (peer.sendMr) ibv_dereg_mr(peer.sendMr);
  peer.recvMr = peer.sendMr = nullptr;
  failPeerOpsLocked(peer.id, why);
  peer.remote.clear();
  peer.adsReceived = false;
  peer.sendSlotsBusy = 0;
  peer.appliedAccess = 0;
  peer.phase = VerbsPhase::Idle;
  peer.state = PeerState::Unreachable;
  if (retry && (wasReady || !peer.loggedFailure)) {
    logLine("node %d: RDMA connection to node %d: %s%s", self_, peer.id, why.c_str(), peer.active ? "; retrying with backoff" : "; waiting for it to reconnect");
    peer.loggedFailure = true;
  }
  if (retry && peer.active) {
    if (wasReady) peer.backoffNs = kFirstBackoffNs;
    peer.retryAtNs = monotonicNs() + retryDelayNs;
    peer.backoffNs = std::min(peer.backoffNs * 2, kMaxBackoffNs);
    wakeThread();
  }
}

}  // namespace fabric
