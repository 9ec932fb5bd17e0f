// Unit tests of the verbs backend's pure parts: connect data and region advertisement encoding,
// the access-flag decision, the completion error mapping and device-address selection. No device
// needed.
// Usage: verbs_pure_test [seed]   (exit 0 when every check passes; the seed is printed either way)
#include <errno.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <algorithm>
#include <random>
#include <stdexcept>

#include "../src/verbs_policy.h"
#include "../src/verbs_wire.h"

using namespace fabric;

static int checks = 0, failures = 0;
static unsigned seed = 0;

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    checks++;                                                                           \
    if (!(cond)) {                                                                      \
      failures++;                                                                       \
      fprintf(stderr, "FAIL %s:%d: %s (seed %u)\n", __FILE__, __LINE__, #cond, seed);   \
    }                                                                                   \
  } while (0)

static void connectData() {
  ConnectData in{7, clusterHash("cluster-a")};
  std::vector<uint8_t> bytes = encodeConnectData(in);
  CHECK(bytes.size() == kConnectDataBytes && bytes.size() <= kMaxConnectDataBytes);
  ConnectData out;
  std::string why;
  CHECK(decodeConnectData(bytes.data(), bytes.size(), out, why));
  CHECK(out.nodeId == 7 && out.clusterHash == in.clusterHash);
  // rdma_cm pads private data with zeros: still valid.
  std::vector<uint8_t> padded = bytes;
  padded.resize(56, 0);
  CHECK(decodeConnectData(padded.data(), padded.size(), out, why) && out.nodeId == 7);
  for (size_t cut = 0; cut < bytes.size(); cut++) CHECK(!decodeConnectData(bytes.data(), cut, out, why));
  std::vector<uint8_t> bad = bytes;
  bad[0] ^= 1;
  CHECK(!decodeConnectData(bad.data(), bad.size(), out, why) && why.find("magic") != std::string::npos);
  bad = bytes;
  bad[4] = 99;
  CHECK(!decodeConnectData(bad.data(), bad.size(), out, why) && why.find("version") != std::string::npos);
  std::vector<uint8_t> zero = encodeConnectData(ConnectData{0, 1});
  CHECK(!decodeConnectData(zero.data(), zero.size(), out, why));
  std::vector<uint8_t> negative = encodeConnectData(ConnectData{-3, 1});
  CHECK(!decodeConnectData(negative.data(), negative.size(), out, why));
  // FNV-1a 64 reference values.
  CHECK(clusterHash("") == 0xcbf29ce484222325ull);
  CHECK(clusterHash("a") == 0xaf63dc4c8601ec8cull);
  CHECK(clusterHash("cluster-a") != clusterHash("cluster-b"));
}

static std::vector<RegionAd> sampleAds() {
  return {{"log", 0x7f0000001000ull, 0x1234, 1 << 20}, {"control", 0x7f0000200000ull, 0xdeadbeef, 4096}, {std::string(64, 'x'), 1, 2, 3}};
}

static void regionAds() {
  std::vector<RegionAd> ads = sampleAds();
  std::vector<uint8_t> bytes = encodeRegionAds(ads);
  std::map<std::string, RegionAd> out;
  std::string why;
  CHECK(decodeRegionAds(bytes.data(), bytes.size(), out, why));
  CHECK(out.size() == ads.size());
  for (const RegionAd& ad : ads) {
    auto it = out.find(ad.name);
    CHECK(it != out.end() && it->second.addr == ad.addr && it->second.rkey == ad.rkey && it->second.bytes == ad.bytes);
  }
  // Every strict prefix is refused, and a refused message leaves `out` as it was.
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    CHECK(!decodeRegionAds(bytes.data(), cut, out, why));
    CHECK(out.size() == ads.size());
  }
  std::vector<uint8_t> trailing = bytes;
  trailing.push_back(0);
  CHECK(!decodeRegionAds(trailing.data(), trailing.size(), out, why) && why.find("trailing") != std::string::npos);
  std::vector<uint8_t> empty = encodeRegionAds({});
  CHECK(decodeRegionAds(empty.data(), empty.size(), out, why) && out.empty());

  std::vector<uint8_t> dup = encodeRegionAds({{"a", 1, 1, 1}, {"b", 1, 1, 1}});
  dup[8 + 1 + 1 + 20 + 1] = 'a';  // rename the second region "a"
  CHECK(!decodeRegionAds(dup.data(), dup.size(), out, why) && why.find("twice") != std::string::npos);
  std::vector<uint8_t> badName = encodeRegionAds({{"ab", 1, 1, 1}});
  badName[10] = '/';
  CHECK(!decodeRegionAds(badName.data(), badName.size(), out, why) && why.find("name") != std::string::npos);
  std::vector<uint8_t> zeroBytes = encodeRegionAds({{"z", 1, 1, 1}});
  zeroBytes[zeroBytes.size() - 8] = 0;
  CHECK(!decodeRegionAds(zeroBytes.data(), zeroBytes.size(), out, why) && why.find("extent") != std::string::npos);
  std::vector<uint8_t> wraps = encodeRegionAds({{"w", ~0ull - 10, 1, 100}});
  CHECK(!decodeRegionAds(wraps.data(), wraps.size(), out, why) && why.find("extent") != std::string::npos);

  std::vector<RegionAd> many;
  for (int i = 0; i < 200; i++) many.push_back({std::string(60, 'r') + std::to_string(i), 1, 1, 1});
  bool threw = false;
  try {
    encodeRegionAds(many);
  } catch (const std::length_error&) {
    threw = true;
  }
  CHECK(threw);
}

// Random bytes and random mutations of a valid message: decoding never crashes or reads out of
// bounds (run under valgrind/ASan for the latter), and whatever it accepts re-encodes the same.
static void fuzzDecoders() {
  std::mt19937 random(seed);
  std::vector<uint8_t> valid = encodeRegionAds(sampleAds());
  for (int i = 0; i < 20000; i++) {
    std::vector<uint8_t> bytes;
    if (i % 2 == 0) {
      bytes.resize(random() % 96);
      for (auto& b : bytes) b = uint8_t(random());
      if (bytes.size() >= 6 && i % 4 == 0) {  // a valid header, so the body gets exercised
        std::vector<uint8_t> head = encodeRegionAds({});
        std::copy(head.begin(), head.begin() + 6, bytes.begin());
      }
    } else {
      bytes = valid;
      for (int m = 0, n = 1 + random() % 4; m < n; m++) bytes[random() % bytes.size()] = uint8_t(random());
    }
    std::map<std::string, RegionAd> out;
    std::string why;
    if (decodeRegionAds(bytes.data(), bytes.size(), out, why)) {
      std::vector<RegionAd> back;
      for (auto& [name, ad] : out) back.push_back(ad);
      std::map<std::string, RegionAd> again;
      std::vector<uint8_t> reencoded = encodeRegionAds(back);
      CHECK(decodeRegionAds(reencoded.data(), reencoded.size(), again, why) && again.size() == out.size());
    } else {
      CHECK(!why.empty());
    }
    ConnectData cd;
    if (!decodeConnectData(bytes.data(), bytes.size(), cd, why)) CHECK(!why.empty());
  }
}

static void accessFlags() {
  std::map<std::string, PeerId> holders{{"log", 2}, {"control", kNoPeer}, {"mailbox", 3}};
  CHECK(qpAccessFlags(2, holders) == (IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE));
  CHECK(qpAccessFlags(3, holders) == (IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE));
  CHECK(qpAccessFlags(4, holders) == IBV_ACCESS_REMOTE_READ);
  CHECK(qpAccessFlags(kNoPeer, holders) == IBV_ACCESS_REMOTE_READ);
  holders["log"] = 4;  // 2 loses its only region
  CHECK(qpAccessFlags(2, holders) == IBV_ACCESS_REMOTE_READ);
  CHECK(qpAccessFlags(4, holders) == (IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE));
  CHECK(qpAccessFlags(1, {}) == IBV_ACCESS_REMOTE_READ);

  CHECK(peersAffectedByGrant(2, 2).empty());
  CHECK((peersAffectedByGrant(2, 3) == std::vector<PeerId>{2, 3}));
  CHECK((peersAffectedByGrant(kNoPeer, 3) == std::vector<PeerId>{3}));
  CHECK((peersAffectedByGrant(2, kNoPeer) == std::vector<PeerId>{2}));
  CHECK(peersAffectedByGrant(kNoPeer, kNoPeer).empty());

  CHECK(classifyModifyResult(0) == AccessChange::Applied);
  CHECK(classifyModifyResult(EINVAL) == AccessChange::Recreate);
  CHECK(classifyModifyResult(EOPNOTSUPP) == AccessChange::Recreate);
  CHECK(classifyModifyResult(EPERM) == AccessChange::Recreate);
}

static void errorMapping() {
  CHECK(completionError(IBV_WC_SUCCESS) == ErrorKind::None);
  CHECK(completionError(IBV_WC_REM_ACCESS_ERR) == ErrorKind::Permission);
  for (ibv_wc_status s : {IBV_WC_RETRY_EXC_ERR, IBV_WC_RNR_RETRY_EXC_ERR, IBV_WC_WR_FLUSH_ERR, IBV_WC_REM_OP_ERR, IBV_WC_LOC_PROT_ERR,
                          IBV_WC_REM_INV_REQ_ERR, IBV_WC_GENERAL_ERR, IBV_WC_FATAL_ERR, IBV_WC_RESP_TIMEOUT_ERR})
    CHECK(completionError(s) == ErrorKind::Unreachable);
  CHECK(!breaksQueuePair(IBV_WC_SUCCESS));
  CHECK(breaksQueuePair(IBV_WC_REM_ACCESS_ERR));
  CHECK(breaksQueuePair(IBV_WC_WR_FLUSH_ERR));

  std::map<std::string, RegionAd> ads{{"log", {"log", 0x1000, 1, 100}}};
  CHECK(checkRemoteAccess(ads, "nope", 0, 1) == ErrorKind::NoRegion);
  CHECK(checkRemoteAccess(ads, "log", 0, 100) == ErrorKind::None);
  CHECK(checkRemoteAccess(ads, "log", 99, 1) == ErrorKind::None);
  CHECK(checkRemoteAccess(ads, "log", 100, 0) == ErrorKind::None);
  CHECK(checkRemoteAccess(ads, "log", 99, 2) == ErrorKind::Bounds);
  CHECK(checkRemoteAccess(ads, "log", 101, 0) == ErrorKind::Bounds);
  CHECK(checkRemoteAccess(ads, "log", ~0ull, 2) == ErrorKind::Bounds);  // offset + length overflows
  CHECK(checkRemoteAccess(ads, "log", 1, ~0ull) == ErrorKind::Bounds);
}

static GidEntry gid(std::initializer_list<uint8_t> bytes, uint32_t type) {
  GidEntry e;
  std::copy(bytes.begin(), bytes.end(), e.gid.begin());
  e.type = type;
  e.port = 1;
  return e;
}

static void deviceSelection() {
  CHECK(isIpAddress("10.0.0.1"));
  CHECK(isIpAddress("::ffff:10.0.0.1"));
  CHECK(isIpAddress("fe80::1"));
  CHECK(!isIpAddress("mlx5_0"));
  CHECK(!isIpAddress(""));
  CHECK(!isIpAddress("10.0.0"));

  GidEntry linkLocalV2 = gid({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, IBV_GID_TYPE_ROCE_V2);
  GidEntry v4V1 = gid({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 9}, IBV_GID_TYPE_ROCE_V1);
  GidEntry v4V2 = gid({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 7}, IBV_GID_TYPE_ROCE_V2);
  GidEntry globalV2 = gid({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, IBV_GID_TYPE_ROCE_V2);
  GidEntry ib = gid({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 2, 0xc9, 3, 0, 1, 2, 3}, IBV_GID_TYPE_IB);
  CHECK(roceV2Address({linkLocalV2, v4V1, globalV2, v4V2}) == "192.168.1.7");  // IPv4 first, RoCE v2 only
  CHECK(roceV2Address({linkLocalV2, v4V1, globalV2}) == "2001:db8::1");
  CHECK(roceV2Address({linkLocalV2, v4V1, ib}).empty());
  CHECK(roceV2Address({gid({}, IBV_GID_TYPE_ROCE_V2)}).empty());  // an unused (zero) entry
  CHECK(roceV2Address({}).empty());
}

int main(int argc, char** argv) {
  seed = argc > 1 ? unsigned(strtoul(argv[1], nullptr, 10)) : unsigned(time(nullptr));
  printf("verbs_pure_test seed %u\n", seed);
  connectData();
  regionAds();
  fuzzDecoders();
  accessFlags();
  errorMapping();
  deviceSelection();
  printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
