#include "tcp_frames.h"

#include <cstring>

namespace fabric {
namespace {

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out), start_(out.size()) { u32(0); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { for (int i = 0; i < 2; i++) out_.push_back(uint8_t(v >> (8 * i))); }
  void u32(uint32_t v) { for (int i = 0; i < 4; i++) out_.push_back(uint8_t(v >> (8 * i))); }
  void u64(uint64_t v) { for (int i = 0; i < 8; i++) out_.push_back(uint8_t(v >> (8 * i))); }
  void bytes(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
  void name(const std::string& s) {
    FABRIC_ASSERT(s.size() <= 255);
    u8(uint8_t(s.size()));
    bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  // Patches the length prefix; `trailing` counts bytes the caller sends after this header.
  void finish(size_t trailing = 0) {
    size_t body = out_.size() - start_ - kFrameLengthBytes + trailing;
    FABRIC_ASSERT(body <= kMaxBodyBytes);
    for (int i = 0; i < 4; i++) out_[start_ + i] = uint8_t(body >> (8 * i));
  }

 private:
  std::vector<uint8_t>& out_;
  size_t start_;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool u8(uint8_t& v) { return take(1) && (v = p_[pos_ - 1], true); }
  bool u16(uint16_t& v) { return little(v); }
  bool u32(uint32_t& v) { return little(v); }
  bool u64(uint64_t& v) { return little(v); }
  bool bytes(uint8_t* into, size_t n) { return take(n) && (memcpy(into, p_ + pos_ - n, n), true); }
  bool name(std::string& s) {
    uint8_t len;
    if (!u8(len) || !take(len)) return false;
    s.assign(reinterpret_cast<const char*>(p_ + pos_ - len), len);
    return validName(s);
  }
  bool view(const uint8_t*& at, size_t n) { return take(n) && (at = p_ + pos_ - n, true); }
  bool done() const { return pos_ == n_; }

 private:
  bool take(size_t n) {
    if (n > n_ - pos_) return false;
    pos_ += n;
    return true;
  }
  template <typename T>
  bool little(T& v) {
    if (!take(sizeof(T))) return false;
    v = 0;
    for (size_t i = 0; i < sizeof(T); i++) v |= T(T(p_[pos_ - sizeof(T) + i]) << (8 * i));
    return true;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

bool validStatus(uint8_t s) { return s <= uint8_t(ErrorKind::NoRegion); }

}  // namespace

ParseResult parseFrame(const uint8_t* input, size_t inputBytes, Frame& out, size_t& consumed, std::string& reason) {
  if (inputBytes < kFrameLengthBytes) return ParseResult::NeedMore;
  uint32_t body = uint32_t(input[0]) | uint32_t(input[1]) << 8 | uint32_t(input[2]) << 16 | uint32_t(input[3]) << 24;
  if (body == 0 || body > kMaxBodyBytes) {
    reason = "frame body of " + std::to_string(body) + " bytes";
    return ParseResult::Malformed;
  }
  if (inputBytes - kFrameLengthBytes < body) return ParseResult::NeedMore;
  Reader r(input + kFrameLengthBytes, body);
  uint8_t type = 0;
  r.u8(type);
  out.type = FrameType(type);
  bool ok = false;
  uint8_t status = 0;
  switch (out.type) {
    case FrameType::Hello: {
      uint32_t id = 0;
      ok = r.u32(out.magic) && r.u16(out.version) && r.u32(id) && r.name(out.cluster) && r.bytes(out.nonce.data(), kNonceBytes);
      out.nodeId = PeerId(id);
      break;
    }
    case FrameType::Auth: {
      uint32_t id = 0;
      ok = r.u32(id) && r.bytes(out.nonce.data(), kNonceBytes) && r.bytes(out.mac.data(), out.mac.size());
      out.nodeId = PeerId(id);
      break;
    }
    case FrameType::AuthOk:
      ok = r.bytes(out.mac.data(), out.mac.size());
      break;
    case FrameType::Write:
      ok = r.u64(out.wrId) && r.name(out.region) && r.u64(out.offset) && r.u32(out.length) && out.length <= kMaxPayloadBytes &&
           r.view(out.data, out.length);
      break;
    case FrameType::Read:
      ok = r.u64(out.wrId) && r.name(out.region) && r.u64(out.offset) && r.u32(out.length) && out.length <= kMaxPayloadBytes;
      break;
    case FrameType::WriteAck:
      ok = r.u64(out.wrId) && r.u8(status) && validStatus(status);
      out.status = ErrorKind(status);
      break;
    case FrameType::ReadResp:
      ok = r.u64(out.wrId) && r.u8(status) && validStatus(status) && r.u32(out.length) && out.length <= kMaxPayloadBytes &&
           r.view(out.data, out.length);
      out.status = ErrorKind(status);
      break;
    case FrameType::Death:
      ok = true;
      break;
    default:
      reason = "unknown frame type " + std::to_string(type);
      return ParseResult::Malformed;
  }
  if (!ok || !r.done()) {
    reason = "bad body for frame type " + std::to_string(type);
    return ParseResult::Malformed;
  }
  consumed = kFrameLengthBytes + body;
  return ParseResult::Ok;
}

void encodeHello(std::vector<uint8_t>& out, PeerId serverId, const std::string& cluster, const Nonce& nonce) {
  Writer w(out);
  w.u8(uint8_t(FrameType::Hello));
  w.u32(kFrameMagic);
  w.u16(kFrameVersion);
  w.u32(uint32_t(serverId));
  w.name(cluster);
  w.bytes(nonce.data(), nonce.size());
  w.finish();
}

void encodeAuth(std::vector<uint8_t>& out, PeerId clientId, const Nonce& nonce, const Digest& mac) {
  Writer w(out);
  w.u8(uint8_t(FrameType::Auth));
  w.u32(uint32_t(clientId));
  w.bytes(nonce.data(), nonce.size());
  w.bytes(mac.data(), mac.size());
  w.finish();
}

void encodeAuthOk(std::vector<uint8_t>& out, const Digest& mac) {
  Writer w(out);
  w.u8(uint8_t(FrameType::AuthOk));
  w.bytes(mac.data(), mac.size());
  w.finish();
}

void encodeWriteHeader(std::vector<uint8_t>& out, uint64_t wrId, const std::string& region, uint64_t offset, uint32_t length) {
  FABRIC_ASSERT(length <= kMaxPayloadBytes);
  Writer w(out);
  w.u8(uint8_t(FrameType::Write));
  w.u64(wrId);
  w.name(region);
  w.u64(offset);
  w.u32(length);
  w.finish(length);
}

void encodeRead(std::vector<uint8_t>& out, uint64_t wrId, const std::string& region, uint64_t offset, uint32_t length) {
  Writer w(out);
  w.u8(uint8_t(FrameType::Read));
  w.u64(wrId);
  w.name(region);
  w.u64(offset);
  w.u32(length);
  w.finish();
}

void encodeWriteAck(std::vector<uint8_t>& out, uint64_t wrId, ErrorKind status) {
  Writer w(out);
  w.u8(uint8_t(FrameType::WriteAck));
  w.u64(wrId);
  w.u8(uint8_t(status));
  w.finish();
}

void encodeReadRespHeader(std::vector<uint8_t>& out, uint64_t wrId, ErrorKind status, uint32_t length) {
  FABRIC_ASSERT(length <= kMaxPayloadBytes);
  Writer w(out);
  w.u8(uint8_t(FrameType::ReadResp));
  w.u64(wrId);
  w.u8(uint8_t(status));
  w.u32(length);
  w.finish(length);
}

void encodeDeath(std::vector<uint8_t>& out) {
  Writer w(out);
  w.u8(uint8_t(FrameType::Death));
  w.finish();
}

Digest authMac(const std::string& secret, const char* role, const std::string& cluster, PeerId serverId, PeerId clientId,
               const Nonce& serverNonce, const Nonce& clientNonce) {
  std::vector<uint8_t> msg;
  std::string head = std::string("mucached-fabric/1 ") + role + " " + cluster + " " + std::to_string(serverId) + " " + std::to_string(clientId) + " ";
  msg.insert(msg.end(), head.begin(), head.end());
  msg.insert(msg.end(), serverNonce.begin(), serverNonce.end());
  msg.insert(msg.end(), clientNonce.begin(), clientNonce.end());
  return hmacSha256(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), msg.data(), msg.size());
}

}  // namespace fabric
