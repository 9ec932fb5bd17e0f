// Fuzz driver for the tcp fabric's frame decoder (binding/src/tcp_frames.cc, parseFrame): seeded
// random frames from the real encoders, then mutated (bit flips, truncation, duplication, inserted
// bytes, extreme length fields, concatenation), fed to parseFrame from an exactly-sized heap copy
// so AddressSanitizer (when built with it) catches any read past the input.
//
// Properties checked on every input:
//   - parseFrame terminates, is deterministic, and never reads outside the input;
//   - Ok: 5 <= consumed <= input, consumed = 4 + the length prefix, `data` lies inside the frame,
//     names and statuses are valid, and re-encoding the decoded frame gives back the same bytes;
//     bytes after the frame do not change the verdict;
//   - NeedMore: exactly when no whole frame is present (fewer than 4 bytes, or a prefix in
//     1..kMaxBodyBytes announcing more than is there); never when a whole valid frame is present;
//   - Malformed: has a non-empty reason.
// Usage: frames_fuzz_test [seed] [iterations] [maxSeconds]   (exit 0 when every check passes;
// the seed is printed either way; the run stops at whichever bound comes first)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../src/tcp_frames.h"

using namespace fabric;
using Bytes = std::vector<uint8_t>;

static long long checks = 0, failures = 0;
static unsigned seed = 0;
static long long iteration = 0;

#define CHECK(cond, what)                                                                                   \
  do {                                                                                                      \
    checks++;                                                                                               \
    if (!(cond)) {                                                                                          \
      failures++;                                                                                           \
      if (failures <= 20)                                                                                   \
        fprintf(stderr, "FAIL %s:%d: %s (%s) at iteration %lld (seed %u)\n", __FILE__, __LINE__, #cond, what, \
                iteration, seed);                                                                           \
    }                                                                                                       \
  } while (0)

static std::mt19937_64 rng;

static uint64_t below(uint64_t n) { return n == 0 ? 0 : rng() % n; }
static bool chance(unsigned percent) { return below(100) < percent; }

static const char kNameChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

static std::string randomName() {
  for (;;) {
    size_t n = 1 + below(chance(10) ? kMaxNameBytes : 12);
    std::string s;
    for (size_t i = 0; i < n; i++) s += kNameChars[below(sizeof kNameChars - 1)];
    if (validName(s)) return s;  // "." and ".." are not names
  }
}

static Nonce randomNonce() {
  Nonce n;
  for (auto& b : n) b = uint8_t(rng());
  return n;
}

static uint64_t randomU64() {
  switch (below(4)) {
    case 0: return below(16);
    case 1: return ~0ull - below(4);
    case 2: return uint64_t(1) << below(64);
    default: return rng();
  }
}

static uint32_t randomPayloadBytes() {
  if (chance(2)) return uint32_t(65536 + below(70000));
  return uint32_t(below(chance(20) ? 4096 : 64));
}

static void appendRandom(Bytes& out, size_t n) {
  for (size_t i = 0; i < n; i++) out.push_back(uint8_t(rng()));
}

// One valid frame of a random type, as the encoders write it (data appended where the header
// announces trailing bytes).
static Bytes validFrame() {
  Bytes out;
  switch (below(8)) {
    case 0: encodeHello(out, PeerId(randomU64()), randomName(), randomNonce()); break;
    case 1: {
      Digest mac;
      for (auto& b : mac) b = uint8_t(rng());
      encodeAuth(out, PeerId(randomU64()), randomNonce(), mac);
      break;
    }
    case 2: {
      Digest mac;
      for (auto& b : mac) b = uint8_t(rng());
      encodeAuthOk(out, mac);
      break;
    }
    case 3: {
      uint32_t length = randomPayloadBytes();
      encodeWriteHeader(out, randomU64(), randomName(), randomU64(), length);
      appendRandom(out, length);
      break;
    }
    case 4: encodeRead(out, randomU64(), randomName(), randomU64(), uint32_t(randomU64() % (kMaxPayloadBytes + 1))); break;
    case 5: encodeWriteAck(out, randomU64(), ErrorKind(below(5))); break;
    case 6: encodeDeath(out); break;
    default: {
      ErrorKind status = ErrorKind(below(5));
      uint32_t length = status == ErrorKind::None ? randomPayloadBytes() : 0;
      encodeReadRespHeader(out, randomU64(), status, length);
      appendRandom(out, length);
      break;
    }
  }
  return out;
}

static uint32_t prefixOf(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

static void putU32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4 && at + i < b.size(); i++) b[at + i] = uint8_t(v >> (8 * i));
}

static uint32_t extremeU32(uint32_t actual) {
  const uint32_t values[] = {0, 1, 4, 5, actual - 1, actual + 1, uint32_t(kMaxPayloadBytes), uint32_t(kMaxPayloadBytes + 1),
                             uint32_t(kMaxBodyBytes), uint32_t(kMaxBodyBytes + 1), 0x7fffffffu, 0x80000000u, 0xffffffffu};
  return values[below(sizeof values / sizeof values[0])];
}

// Applies 1..4 random mutations.
static void mutate(Bytes& b) {
  size_t rounds = 1 + below(4);
  for (size_t r = 0; r < rounds; r++) {
    size_t n = b.size();
    switch (below(10)) {
      case 0:  // bit flips
        for (size_t i = 0, k = 1 + below(4); i < k && n > 0; i++) b[below(n)] ^= uint8_t(1u << below(8));
        break;
      case 1:  // special byte values
        if (n > 0) b[below(n)] = uint8_t((const uint8_t[]){0, 0xff, 0x7f, 0x80, 0x01, 0x10, 0x11, 0x20, 0x21}[below(9)]);
        break;
      case 2:  // truncation
        b.resize(below(n + 1));
        break;
      case 3: {  // duplicate a slice in place
        if (n == 0) break;
        size_t start = below(n), len = 1 + below(std::min<size_t>(n - start, 64));
        Bytes slice(b.begin() + start, b.begin() + start + len);
        b.insert(b.begin() + below(n + 1), slice.begin(), slice.end());
        break;
      }
      case 4: {  // insert random bytes
        Bytes extra;
        appendRandom(extra, 1 + below(8));
        b.insert(b.begin() + below(n + 1), extra.begin(), extra.end());
        break;
      }
      case 5:  // extreme length prefix
        if (n >= 4) putU32(b, 0, extremeU32(prefixOf(b.data())));
        break;
      case 6:  // extreme u32 somewhere inside (inner length fields, ids)
        if (n >= 8) putU32(b, 4 + below(n - 4), extremeU32(0));
        break;
      case 7:  // name length byte: a region or cluster name that overruns or is empty
        if (n > 5) b[5 + below(std::min<size_t>(n - 5, 16))] = uint8_t((const uint8_t[]){0, 65, 255, 1}[below(4)]);
        break;
      case 8: {  // another frame after this one
        Bytes more = validFrame();
        b.insert(b.end(), more.begin(), more.end());
        break;
      }
      default:  // fix up the prefix to the body as it is now, so the body checks are reached
        if (n >= 5) putU32(b, 0, uint32_t(n - 4));
        break;
    }
  }
}

// The independent model of the prefix rule: is a whole frame present?
static bool wholeFramePresent(const Bytes& b) {
  if (b.size() < kFrameLengthBytes) return false;
  uint32_t body = prefixOf(b.data());
  if (body == 0 || body > kMaxBodyBytes) return true;  // enough to judge: Malformed
  return b.size() - kFrameLengthBytes >= body;
}

// Re-encodes a decoded frame; equal to the input bytes for every frame parseFrame accepts.
static Bytes reencode(const Frame& f) {
  Bytes out;
  switch (f.type) {
    case FrameType::Hello:
      encodeHello(out, f.nodeId, f.cluster, f.nonce);
      putU32(out, 5, f.magic);
      out[9] = uint8_t(f.version);
      out[10] = uint8_t(f.version >> 8);
      break;
    case FrameType::Auth: encodeAuth(out, f.nodeId, f.nonce, f.mac); break;
    case FrameType::AuthOk: encodeAuthOk(out, f.mac); break;
    case FrameType::Write:
      encodeWriteHeader(out, f.wrId, f.region, f.offset, f.length);
      out.insert(out.end(), f.data, f.data + f.length);
      break;
    case FrameType::Read: encodeRead(out, f.wrId, f.region, f.offset, f.length); break;
    case FrameType::WriteAck: encodeWriteAck(out, f.wrId, f.status); break;
    case FrameType::ReadResp:
      encodeReadRespHeader(out, f.wrId, f.status, f.length);
      out.insert(out.end(), f.data, f.data + f.length);
      break;
    case FrameType::Death: encodeDeath(out); break;
  }
  return out;
}

struct Outcome {
  ParseResult result;
  size_t consumed;
};

// Parses an exact-size heap copy of `b` (ASan sees any read past its end) and checks the verdict.
static Outcome parseAndCheck(const Bytes& b) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[b.size()]);
  if (!b.empty()) memcpy(copy.get(), b.data(), b.size());
  Frame frame;
  size_t consumed = 0;
  std::string reason;
  ParseResult r = parseFrame(copy.get(), b.size(), frame, consumed, reason);
  bool whole = wholeFramePresent(b);
  CHECK((r == ParseResult::NeedMore) == !whole, "NeedMore exactly when no whole frame is present");
  if (r == ParseResult::Malformed) CHECK(!reason.empty(), "Malformed has a reason");
  if (r == ParseResult::Ok) {
    CHECK(consumed >= kFrameLengthBytes + 1 && consumed <= b.size(), "consumed within the input");
    CHECK(consumed == kFrameLengthBytes + prefixOf(b.data()), "consumed is the announced frame");
    bool hasData = frame.type == FrameType::Write || frame.type == FrameType::ReadResp;
    if (hasData && frame.length > 0) {
      CHECK(frame.data >= copy.get() + kFrameLengthBytes && frame.data + frame.length <= copy.get() + consumed, "data inside the frame");
    }
    if (frame.type == FrameType::Write || frame.type == FrameType::Read) CHECK(validName(frame.region), "region name valid");
    if (frame.type == FrameType::Hello) CHECK(validName(frame.cluster), "cluster name valid");
    CHECK(frame.length <= kMaxPayloadBytes, "payload within the limit");
    CHECK(uint8_t(frame.status) <= uint8_t(ErrorKind::NoRegion), "status valid");
    Bytes again = reencode(frame);
    CHECK(again.size() == consumed && memcmp(again.data(), b.data(), consumed) == 0, "re-encoding gives the same bytes");
  }
  // Deterministic: a second parse of the same bytes agrees.
  Frame second;
  size_t consumed2 = 0;
  std::string reason2;
  ParseResult r2 = parseFrame(copy.get(), b.size(), second, consumed2, reason2);
  CHECK(r2 == r && (r != ParseResult::Ok || consumed2 == consumed), "deterministic");
  return {r, r == ParseResult::Ok ? consumed : 0};
}

// Bytes after a complete frame never change its verdict.
static void checkExtension(const Bytes& b, const Outcome& first) {
  if (first.result == ParseResult::NeedMore) return;
  Bytes longer = b;
  appendRandom(longer, 1 + below(32));
  Outcome o = parseAndCheck(longer);
  CHECK(o.result == first.result && o.consumed == first.consumed, "trailing bytes do not change the verdict");
}

// A stream of valid frames, parsed the way the NIC thread loops: every frame comes out whole,
// every strict prefix of the last one asks for more.
static void checkStream() {
  Bytes stream;
  std::vector<size_t> sizes;
  for (size_t i = 0, k = 1 + below(5); i < k; i++) {
    Bytes f = validFrame();
    sizes.push_back(f.size());
    stream.insert(stream.end(), f.begin(), f.end());
  }
  size_t used = 0;
  for (size_t i = 0; i < sizes.size(); i++) {
    Bytes rest(stream.begin() + used, stream.end());
    Outcome o = parseAndCheck(rest);
    CHECK(o.result == ParseResult::Ok && o.consumed == sizes[i], "valid frame in a stream decodes whole");
    if (o.result != ParseResult::Ok) return;
    used += o.consumed;
  }
  CHECK(used == stream.size(), "stream consumed exactly");
  Bytes last(stream.end() - sizes.back(), stream.end());
  // Every cut of a small frame, a few of a large one.
  size_t cuts = last.size() <= 200 ? last.size() : 16;
  for (size_t i = 0; i < cuts; i++) {
    size_t cut = last.size() <= 200 ? i : below(last.size());
    Bytes prefix(last.begin(), last.begin() + cut);
    CHECK(parseAndCheck(prefix).result == ParseResult::NeedMore, "strict prefix of a valid frame needs more");
  }
}

int main(int argc, char** argv) {
  seed = argc > 1 ? unsigned(strtoul(argv[1], nullptr, 10)) : unsigned(time(nullptr));
  long long iterations = argc > 2 ? atoll(argv[2]) : 2000000;
  double maxSeconds = argc > 3 ? atof(argv[3]) : 20.0;
  printf("frames_fuzz_test seed %u\n", seed);
  fflush(stdout);
  rng.seed(seed);
  auto start = std::chrono::steady_clock::now();
  long long outcomes[3] = {0, 0, 0};
  for (iteration = 0; iteration < iterations; iteration++) {
    if ((iteration & 1023) == 0) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (elapsed > maxSeconds) break;
    }
    if (iteration % 64 == 0) checkStream();
    Bytes b;
    if (chance(5)) appendRandom(b, below(64));  // pure garbage
    else {
      b = validFrame();
      if (chance(90)) mutate(b);
    }
    Outcome o = parseAndCheck(b);
    outcomes[int(o.result)]++;
    if (chance(10)) checkExtension(b, o);
    if (failures > 100) break;
  }
  printf("%lld iterations: %lld need-more, %lld ok, %lld malformed\n", iteration, outcomes[0], outcomes[1], outcomes[2]);
  printf("%lld checks, %lld failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
