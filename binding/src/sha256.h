// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) for the tcp backend's challenge-response.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace fabric {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t length);
  Digest finish();

 private:
  void block(const uint8_t* chunk);
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t totalBytes_ = 0;
};

Digest hmacSha256(const uint8_t* key, size_t keyLength, const uint8_t* message, size_t messageLength);

// Compares without an early exit, so timing does not reveal how many leading bytes matched.
bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length);

}  // namespace fabric
