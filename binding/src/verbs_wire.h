// What verbs peers tell each other, as bytes. Pure logic (no verbs calls), unit-tested by
// binding/test/verbs_pure_test.cc.
//
// Connect private data (rdma_connect / rdma_accept; RC connect requests carry at most 56 bytes):
//   magic u32, version u16, nodeId i32, clusterHash u64                    (18 bytes, little endian)
// Region advertisement (an RDMA SEND right after the connection is established, and again to
// every connected peer whenever a region is registered later):
//   magic u32, version u16, count u16, then per region:
//   nameLen u8, name, addr u64, rkey u32, bytes u64
// The receiver replaces everything it knew of the sender's regions with the message's list.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fabric_types.h"

namespace fabric {

constexpr uint32_t kVerbsMagic = 0x5642554d;  // "MUBV"
constexpr uint16_t kVerbsVersion = 1;
constexpr size_t kConnectDataBytes = 18;
constexpr size_t kMaxConnectDataBytes = 56;  // rdma_cm's limit for RC connect requests
// One advertisement message must fit one receive buffer.
constexpr size_t kAdMessageBytes = 8192;

struct ConnectData {
  PeerId nodeId = kNoPeer;
  uint64_t clusterHash = 0;
};

struct RegionAd {
  std::string name;
  uint64_t addr = 0;
  uint32_t rkey = 0;
  uint64_t bytes = 0;
};

// FNV-1a 64 of the cluster name: peers of another cluster are refused at connect time.
uint64_t clusterHash(const std::string& cluster);

std::vector<uint8_t> encodeConnectData(const ConnectData& data);
// False (with `why`) for anything that is not a well-formed connect message of our version.
bool decodeConnectData(const uint8_t* bytes, size_t length, ConnectData& out, std::string& why);

// Throws std::length_error if the list does not fit kAdMessageBytes.
std::vector<uint8_t> encodeRegionAds(const std::vector<RegionAd>& ads);
bool decodeRegionAds(const uint8_t* bytes, size_t length, std::map<std::string, RegionAd>& out, std::string& why);

}  // namespace fabric
