#include "verbs_wire.h"

#include <stdexcept>

namespace fabric {
namespace {

void putLe(std::vector<uint8_t>& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; i++) out.push_back(uint8_t(value >> (8 * i)));
}

// Reads little-endian integers from a bounded buffer; every get fails once the input runs out.
class Reader {
 public:
  Reader(const uint8_t* bytes, size_t length) : p_(bytes), left_(length) {}
  bool get(uint64_t& value, size_t bytes) {
    if (left_ < bytes) return false;
    value = 0;
    for (size_t i = 0; i < bytes; i++) value |= uint64_t(p_[i]) << (8 * i);
    p_ += bytes;
    left_ -= bytes;
    return true;
  }
  bool getString(std::string& value, size_t bytes) {
    if (left_ < bytes) return false;
    value.assign(reinterpret_cast<const char*>(p_), bytes);
    p_ += bytes;
    left_ -= bytes;
    return true;
  }
  size_t left() const { return left_; }

 private:
  const uint8_t* p_;
  size_t left_;
};

bool header(Reader& in, std::string& why) {
  uint64_t magic = 0, version = 0;
  if (!in.get(magic, 4) || !in.get(version, 2)) {
    why = "truncated header";
    return false;
  }
  if (magic != kVerbsMagic) {
    why = "not a mucached verbs peer (bad magic)";
    return false;
  }
  if (version != kVerbsVersion) {
    why = "protocol version " + std::to_string(version) + ", want " + std::to_string(kVerbsVersion);
    return false;
  }
  return true;
}

}  // namespace

uint64_t clusterHash(const std::string& cluster) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : cluster) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<uint8_t> encodeConnectData(const ConnectData& data) {
  std::vector<uint8_t> out;
  putLe(out, kVerbsMagic, 4);
  putLe(out, kVerbsVersion, 2);
  putLe(out, uint32_t(data.nodeId), 4);
  putLe(out, data.clusterHash, 8);
  FABRIC_ASSERT(out.size() == kConnectDataBytes && out.size() <= kMaxConnectDataBytes);
  return out;
}

bool decodeConnectData(const uint8_t* bytes, size_t length, ConnectData& out, std::string& why) {
  // rdma_cm may pad private data with zeros up to the transport's size: trailing bytes are allowed.
  Reader in(bytes, length);
  if (!header(in, why)) return false;
  uint64_t node = 0, hash = 0;
  if (!in.get(node, 4) || !in.get(hash, 8)) {
    why = "truncated connect data";
    return false;
  }
  int32_t nodeId = int32_t(uint32_t(node));
  if (nodeId < 1) {
    why = "node id " + std::to_string(nodeId) + " is not >= 1";
    return false;
  }
  out.nodeId = nodeId;
  out.clusterHash = hash;
  return true;
}

std::vector<uint8_t> encodeRegionAds(const std::vector<RegionAd>& ads) {
  if (ads.size() > 0xffff) throw std::length_error("too many regions to advertise");
  std::vector<uint8_t> out;
  putLe(out, kVerbsMagic, 4);
  putLe(out, kVerbsVersion, 2);
  putLe(out, ads.size(), 2);
  for (const RegionAd& ad : ads) {
    FABRIC_ASSERT(validName(ad.name));
    out.push_back(uint8_t(ad.name.size()));
    out.insert(out.end(), ad.name.begin(), ad.name.end());
    putLe(out, ad.addr, 8);
    putLe(out, ad.rkey, 4);
    putLe(out, ad.bytes, 8);
  }
  if (out.size() > kAdMessageBytes)
    throw std::length_error("region advertisement of " + std::to_string(out.size()) + " bytes exceeds " + std::to_string(kAdMessageBytes));
  return out;
}

bool decodeRegionAds(const uint8_t* bytes, size_t length, std::map<std::string, RegionAd>& out, std::string& why) {
  Reader in(bytes, length);
  if (!header(in, why)) return false;
  uint64_t count = 0;
  if (!in.get(count, 2)) {
    why = "truncated region count";
    return false;
  }
  std::map<std::string, RegionAd> ads;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t nameLen = 0, addr = 0, rkey = 0, size = 0;
    RegionAd ad;
    if (!in.get(nameLen, 1) || !in.getString(ad.name, nameLen) || !in.get(addr, 8) || !in.get(rkey, 4) || !in.get(size, 8)) {
      why = "truncated region " + std::to_string(i);
      return false;
    }
    if (!validName(ad.name)) {
      why = "invalid region name in advertisement";
      return false;
    }
    // A region that wraps the address space would make every bounds check meaningless.
    if (size == 0 || addr + size < addr) {
      why = "region '" + ad.name + "' has an impossible extent";
      return false;
    }
    if (ads.count(ad.name)) {
      why = "region '" + ad.name + "' advertised twice";
      return false;
    }
    ad.addr = addr;
    ad.rkey = uint32_t(rkey);
    ad.bytes = size;
    ads.emplace(ad.name, ad);
  }
  if (in.left() != 0) {
    why = std::to_string(in.left()) + " trailing bytes";
    return false;
  }
  out.swap(ads);
  return true;
}

}  // namespace fabric
