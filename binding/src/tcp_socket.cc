// Small non-blocking socket helpers for the NIC thread and the JS thread's sends.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tcp_backend.h"

namespace fabric {

void setNonBlockingNoDelay(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  FABRIC_ASSERT(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool readAvailable(int fd, InBuffer& into, std::string& why, bool* peerClosed) {
  constexpr size_t kChunk = 64 * 1024;
  // Bounded: a peer that never stops sending cannot keep the NIC thread here forever; the rest
  // stays in the kernel and epoll reports it again.
  for (int round = 0; round < 64; round++) {
    ssize_t n = recv(fd, into.tail(kChunk), kChunk, 0);
    if (n > 0) {
      into.grew(size_t(n));
      if (size_t(n) < kChunk) return true;
      continue;
    }
    if (n == 0) {
      why = "connection closed by peer";
      if (peerClosed) *peerClosed = true;
      return false;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (errno == EINTR) continue;
    why = std::string("recv: ") + strerror(errno);
    if (peerClosed) *peerClosed = peerClosedErrno(errno);
    return false;
  }
  return true;
}

bool flushOut(int fd, OutBuffer& out, std::string& why, bool* peerClosed) {
  while (!out.empty()) {
    ssize_t n = send(fd, out.bytes.data() + out.sent, out.bytes.size() - out.sent, MSG_NOSIGNAL);
    if (n > 0) {
      out.sent += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    why = std::string("send: ") + strerror(errno);
    if (peerClosed) *peerClosed = peerClosedErrno(errno);
    return false;
  }
  out.bytes.clear();
  out.sent = 0;
  return true;
}

void randomNonce(Nonce& nonce) {
  size_t got = 0;
  while (got < nonce.size()) {
    ssize_t n = getrandom(nonce.data() + got, nonce.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    FABRIC_ASSERT(n > 0);
    got += size_t(n);
  }
}

std::string describeAddress(const sockaddr_in& address) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &address.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(address.sin_port));
}

}  // namespace fabric
