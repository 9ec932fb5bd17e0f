// Wire format of the tcp fabric. Pure logic: bytes in, frames out; no sockets here.
//
// Every frame: u32 bodyBytes (little endian), then the body, whose first byte is the type.
//   HELLO    server->client  magic u32, version u16, serverId i32, clusterLen u8, cluster, nonce[32]
//   AUTH     client->server  clientId i32, nonce[32], mac[32]   (mac over both nonces, see authMac)
//   AUTH_OK  server->client  mac[32]                             (proves the server knows the secret too)
//   WRITE    client->server  wrId u64, regionLen u8, region, offset u64, length u32, data[length]
//   READ     client->server  wrId u64, regionLen u8, region, offset u64, length u32
//   WRITE_ACK server->client wrId u64, status u8 (ErrorKind)
//   READ_RESP server->client wrId u64, status u8, length u32, data[length] (length 0 unless ok)
//   DEATH    herald->server  (nothing): the herald's node died (herald.h); only a herald sends it
// A frame is applied only once it has arrived whole, so a peer dying mid-frame changes nothing.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fabric_types.h"
#include "sha256.h"

namespace fabric {

enum class FrameType : uint8_t { Hello = 0x01, Auth = 0x02, AuthOk = 0x03, Write = 0x10, Read = 0x11, WriteAck = 0x20, ReadResp = 0x21, Death = 0x30 };

constexpr uint32_t kFrameMagic = 0x4246554d;  // "MUFB"
constexpr uint16_t kFrameVersion = 1;
constexpr size_t kNonceBytes = 32;
constexpr size_t kMaxPayloadBytes = size_t(64) << 20;  // one write or read: 64 MiB
constexpr size_t kMaxBodyBytes = kMaxPayloadBytes + 256;
constexpr size_t kFrameLengthBytes = 4;

using Nonce = std::array<uint8_t, kNonceBytes>;

// A decoded frame; `region` and `data` point into the parser's input, valid until it is consumed.
struct Frame {
  FrameType type;
  uint32_t magic = 0;
  uint16_t version = 0;
  PeerId nodeId = kNoPeer;  // HELLO: serverId; AUTH: clientId
  std::string cluster;
  Nonce nonce{};
  Digest mac{};
  uint64_t wrId = 0;
  std::string region;
  uint64_t offset = 0;
  uint32_t length = 0;
  ErrorKind status = ErrorKind::None;
  const uint8_t* data = nullptr;
};

enum class ParseResult { NeedMore, Ok, Malformed };

// Decodes the first frame of `input`. On Ok, `consumed` is the frame's size on the wire.
// On Malformed, `reason` says why (the connection must be dropped: framing cannot resync).
ParseResult parseFrame(const uint8_t* input, size_t inputBytes, Frame& out, size_t& consumed, std::string& reason);

void encodeHello(std::vector<uint8_t>& out, PeerId serverId, const std::string& cluster, const Nonce& nonce);
void encodeAuth(std::vector<uint8_t>& out, PeerId clientId, const Nonce& nonce, const Digest& mac);
void encodeAuthOk(std::vector<uint8_t>& out, const Digest& mac);
// WRITE header only (everything before the data), so the caller can send header and data without copying.
void encodeWriteHeader(std::vector<uint8_t>& out, uint64_t wrId, const std::string& region, uint64_t offset, uint32_t length);
void encodeRead(std::vector<uint8_t>& out, uint64_t wrId, const std::string& region, uint64_t offset, uint32_t length);
void encodeWriteAck(std::vector<uint8_t>& out, uint64_t wrId, ErrorKind status);
// READ_RESP header; `length` data bytes must follow.
void encodeReadRespHeader(std::vector<uint8_t>& out, uint64_t wrId, ErrorKind status, uint32_t length);
void encodeDeath(std::vector<uint8_t>& out);

// role is "client", "server" or "herald": each role's MAC differs, so one cannot be replayed as another.
Digest authMac(const std::string& secret, const char* role, const std::string& cluster, PeerId serverId, PeerId clientId,
               const Nonce& serverNonce, const Nonce& clientNonce);

}  // namespace fabric
