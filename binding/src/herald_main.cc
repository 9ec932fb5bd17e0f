// mucached-herald: the tcp fabric's death herald (herald.h), one per node, started by the node.
//
// stdin: "self ID", "cluster NAME", "secret HEX", then "peer ID IP PORT" and "drop ID" lines at
// any time. fd 3: the node's liveness file (shm_region.h), whose lock the node's JS thread holds.
// It keeps an authenticated connection to every peer's fabric port (role "herald": it can send
// DEATH and nothing else) and waits on the lock. The kernel marks the lock as the node's thread
// dies: DEATH goes to every peer, and the herald exits. A clean unlock (the node closed its
// fabric) or the end of its instructions without a death: it exits without a word.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shm_region.h"
#include "tcp_backend.h"
#include "tcp_frames.h"

using namespace fabric;

namespace {

// A herald that is not connected when its node dies tells that peer nothing: retry often (a refused
// connect on a LAN costs microseconds; an unanswered one is bounded by the handshake timeout).
constexpr uint64_t kFirstBackoffNs = 10000000ull;  // 10 ms
constexpr uint64_t kMaxBackoffNs = 100000000ull;  // 100 ms
constexpr uint64_t kHandshakeTimeoutNs = 2000000000ull;
// Without a verdict this long after its instructions ended, the node is gone some other way.
constexpr uint64_t kOrphanExitNs = 2000000000ull;

enum class Phase { Idle, Connecting, AwaitHello, AwaitAuthOk, Ready };

struct Peer {
  PeerId id = kNoPeer;
  sockaddr_in address{};
  int fd = -1;
  Phase phase = Phase::Idle;
  uint64_t retryAtNs = 0;
  uint64_t backoffNs = kFirstBackoffNs;
  uint64_t deadlineNs = 0;
  std::vector<uint8_t> in;
  Nonce serverNonce{}, clientNonce{};
};

struct Config {
  PeerId self = kNoPeer;
  std::string cluster;
  std::string secret;
};

PeerId selfForLog = kNoPeer;

void say(const std::string& what) {
  fprintf(stderr, "[herald of node %d] %s\n", int(selfForLog), what.c_str());
}

std::string unhex(const std::string& text) {
  std::string out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) out += char(std::stoi(text.substr(i, 2), nullptr, 16));
  return out;
}

void closePeer(Peer& p, uint64_t nowNs) {
  if (p.fd >= 0) ::close(p.fd);
  p.fd = -1;
  p.phase = Phase::Idle;
  p.in.clear();
  p.retryAtNs = nowNs + p.backoffNs;
  p.backoffNs = std::min(p.backoffNs * 2, kMaxBackoffNs);
}

bool sendAll(int fd, const std::vector<uint8_t>& bytes) {
  // Frames here are a few dozen bytes on an idle socket: they go whole or the connection is bad.
  ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  return n == ssize_t(bytes.size());
}

void startConnect(Peer& p, uint64_t nowNs) {
  p.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (p.fd < 0) return closePeer(p, nowNs);
  int one = 1;
  setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  p.deadlineNs = nowNs + kHandshakeTimeoutNs;
  p.phase = Phase::Connecting;
  if (connect(p.fd, reinterpret_cast<sockaddr*>(&p.address), sizeof p.address) != 0 && errno != EINPROGRESS) closePeer(p, nowNs);
}

// Handles what the peer sent; false if the connection must be dropped.
bool onReadable(Peer& p, const Config& cfg) {
  uint8_t chunk[4096];
  ssize_t n = recv(p.fd, chunk, sizeof chunk, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
  if (n > 0) p.in.insert(p.in.end(), chunk, chunk + n);
  for (;;) {
    Frame frame;
    size_t consumed = 0;
    std::string reason;
    ParseResult r = parseFrame(p.in.data(), p.in.size(), frame, consumed, reason);
    if (r == ParseResult::NeedMore) return p.in.size() <= 4096;
    if (r == ParseResult::Malformed) return false;
    p.in.erase(p.in.begin(), p.in.begin() + long(consumed));
    if (p.phase == Phase::AwaitHello) {
      if (frame.type != FrameType::Hello || frame.magic != kFrameMagic || frame.version != kFrameVersion || frame.cluster != cfg.cluster ||
          frame.nodeId != p.id)
        return false;
      p.serverNonce = frame.nonce;
      randomNonce(p.clientNonce);
      std::vector<uint8_t> auth;
      encodeAuth(auth, cfg.self, p.clientNonce, authMac(cfg.secret, "herald", cfg.cluster, p.id, cfg.self, p.serverNonce, p.clientNonce));
      if (!sendAll(p.fd, auth)) return false;
      p.phase = Phase::AwaitAuthOk;
    } else if (p.phase == Phase::AwaitAuthOk) {
      Digest expected = authMac(cfg.secret, "server", cfg.cluster, p.id, cfg.self, p.serverNonce, p.clientNonce);
      if (frame.type != FrameType::AuthOk || !constantTimeEqual(frame.mac.data(), expected.data(), expected.size())) {
        say("node " + std::to_string(p.id) + " refused this herald (wrong cluster secret, or an older build)");
        return false;
      }
      p.phase = Phase::Ready;
      p.backoffNs = kFirstBackoffNs;
    } else {
      return false;  // a server sends a herald nothing after AUTH_OK
    }
  }
}

// Applies one instruction line from the node.
void instruct(const std::string& line, Config& cfg, std::map<PeerId, Peer>& peers) {
  std::istringstream in(line);
  std::string word;
  in >> word;
  if (word == "self") {
    in >> cfg.self;
    selfForLog = cfg.self;
  } else if (word == "cluster") {
    in >> cfg.cluster;
  } else if (word == "secret") {
    std::string text;
    in >> text;
    cfg.secret = unhex(text);
  } else if (word == "peer") {
    PeerId id = kNoPeer;
    std::string ip;
    int port = 0;
    in >> id >> ip >> port;
    Peer p;
    p.id = id;
    p.address.sin_family = AF_INET;
    p.address.sin_port = htons(uint16_t(port));
    if (inet_pton(AF_INET, ip.c_str(), &p.address.sin_addr) != 1) return say("bad peer line: " + line);
    auto it = peers.find(id);
    if (it != peers.end() && it->second.fd >= 0) ::close(it->second.fd);
    peers[id] = p;
  } else if (word == "drop") {
    PeerId id = kNoPeer;
    in >> id;
    auto it = peers.find(id);
    if (it != peers.end() && it->second.fd >= 0) ::close(it->second.fd);
    if (it != peers.end()) peers.erase(it);
  }
}

}  // namespace

const char* kUsage =
    "mucached-herald: the tcp fabric's death herald. Every mucached node on the tcp fabric starts one\n"
    "beside itself; it tells the node's peers the moment the node's process dies, instead of their\n"
    "waiting for the kernel to close the dead process's sockets. It takes its instructions on stdin and\n"
    "the node's liveness file on descriptor 3, so it is not run by hand. Turn it off with\n"
    "\"herald\": false in the cluster config's fabric object.\n";

int main(int argc, char** argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(kUsage, stdout);
    return 0;
  }
  std::shared_ptr<ShmMapping> liveness = fcntl(3, F_GETFD) < 0 ? nullptr : ShmMapping::mapOpened(3);
  if (!liveness) {
    fprintf(stderr, "[herald] no liveness file on descriptor 3: mucached starts this helper itself (see --help)\n");
    return 2;
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return 2;
  Config cfg;
  std::map<PeerId, Peer> peers;
  // Held by the main loop except while it sleeps in poll: the watcher sends DEATH itself, one
  // thread hop sooner than waking the loop to do it.
  std::mutex peersMu;
  // 0: alive; 1: unlocked at close; 2: died (and the peers were told).
  std::atomic<int> verdict{0};
  std::thread watcher([&] {
    while (!liveness->waitWhileOwnerAlive(1000)) {
    }
    bool died = liveness->ownerDied();
    if (died) {
      std::lock_guard<std::mutex> lock(peersMu);
      std::vector<uint8_t> death;
      encodeDeath(death);
      std::string told;
      for (auto& [id, p] : peers) {
        if (p.phase == Phase::Ready && sendAll(p.fd, death)) told += (told.empty() ? "" : ", ") + std::to_string(id);
      }
      say("node died; told " + (told.empty() ? std::string("no peer (none connected)") : "node(s) " + told));
    }
    // The pipe first: once the verdict is out, main may end the process at any moment.
    char b = 1;
    (void)!write(wake[1], &b, 1);
    verdict.store(died ? 2 : 1);
  });
  watcher.detach();
  std::string pending;
  bool instructionsOpen = true;
  uint64_t instructionsEndedNs = 0;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  std::unique_lock<std::mutex> lock(peersMu);
  for (;;) {
    uint64_t now = monotonicNs();
    // _exit: the detached watcher may still be using what main's destructors would free.
    if (verdict.load() != 0) _exit(0);
    if (!instructionsOpen && now - instructionsEndedNs > kOrphanExitNs) _exit(0);

    std::vector<pollfd> fds;
    std::vector<PeerId> owners;
    fds.push_back({wake[0], POLLIN, 0});
    owners.push_back(kNoPeer);
    if (instructionsOpen) {
      fds.push_back({0, POLLIN, 0});
      owners.push_back(kNoPeer);
    }
    int timeoutMs = 100;
    for (auto& [id, p] : peers) {
      if (cfg.self == kNoPeer || cfg.secret.empty()) break;
      if (p.phase == Phase::Idle && now >= p.retryAtNs) startConnect(p, now);
      if (p.phase == Phase::Idle) {
        timeoutMs = std::min<int>(timeoutMs, int((p.retryAtNs - now) / 1000000) + 1);
        continue;
      }
      if (p.phase != Phase::Ready && now > p.deadlineNs) {
        closePeer(p, now);
        continue;
      }
      fds.push_back({p.fd, short(p.phase == Phase::Connecting ? POLLOUT : POLLIN), 0});
      owners.push_back(id);
    }
    lock.unlock();
    int polled = poll(fds.data(), fds.size(), timeoutMs);
    lock.lock();
    if (polled < 0 && errno != EINTR) _exit(2);
    now = monotonicNs();
    for (size_t i = 0; i < fds.size(); i++) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == wake[0]) continue;  // the verdict is read at the top of the loop
      if (fds[i].fd == 0 && owners[i] == kNoPeer) {
        char buf[4096];
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          instructionsOpen = false;
          instructionsEndedNs = now;
          continue;
        }
        if (n > 0) pending.append(buf, size_t(n));
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          instruct(pending.substr(0, nl), cfg, peers);
          pending.erase(0, nl + 1);
        }
        break;  // the peer table may have changed: poll again with fresh descriptors
      }
      auto it = peers.find(owners[i]);
      if (it == peers.end() || it->second.fd != fds[i].fd) continue;
      Peer& p = it->second;
      if (p.phase == Phase::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) closePeer(p, now);
        else p.phase = Phase::AwaitHello;
        continue;
      }
      if (!onReadable(p, cfg)) closePeer(p, now);
    }
  }
}
