// The node's side of the death herald (herald.h): start the helper, feed it the peer list over a
// pipe, and stop it at close. The helper itself is herald_main.cc.
#include "herald.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "shm_region.h"
#include "tcp_backend.h"

extern char** environ;

namespace fabric {

namespace {
std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}
// The descriptor the helper finds the liveness file on (herald_main.cc maps it from there).
constexpr int kLivenessFd = 3;
// How long stop() waits for the helper to exit after the clean unlock before killing it.
constexpr int kStopWaitMs = 1000;
}  // namespace

HeraldProcess::HeraldProcess(const std::string& path, PeerId self, const std::string& cluster, const std::string& secret) {
  int livenessFd = -1;
  int pipeFds[2] = {-1, -1};
  try {
    liveness_ = ShmMapping::createLivenessOnly(self, livenessFd);
  } catch (const std::exception& e) {
    logLine("node %d: no death herald (%s): peers learn of this node's death when its connections close", self, e.what());
    return;
  }
  if (pipe2(pipeFds, O_CLOEXEC) != 0) {
    logLine("node %d: no death herald (pipe: %s)", self, strerror(errno));
    ::close(livenessFd);
    liveness_.reset();
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the copies: the helper gets stdin and fd 3 from us, and stderr
  // for its log lines (stdout is /dev/null: a parent waiting for our stdout to close must not
  // wait for the helper too). Everything else of ours is close-on-exec.
  posix_spawn_file_actions_adddup2(&actions, pipeFds[0], 0);
  posix_spawn_file_actions_adddup2(&actions, livenessFd, kLivenessFd);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 2);  // same descriptor: clears its close-on-exec
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Node ignores SIGPIPE and may block signals in its threads: the helper starts with defaults.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipeFds[0]);
  ::close(livenessFd);
  if (rc != 0) {
    logLine("node %d: no death herald (cannot start %s: %s): peers learn of this node's death when its connections close", self,
            path.c_str(), strerror(rc));
    ::close(pipeFds[1]);
    liveness_.reset();
    return;
  }
  pid_ = pid;
  pipeFd_ = pipeFds[1];
  send("self " + std::to_string(self) + "\ncluster " + cluster + "\nsecret " + hex(secret) + "\n");
}

HeraldProcess::~HeraldProcess() { stop(); }

void HeraldProcess::addPeer(PeerId peer, const sockaddr_in& address) {
  std::string ipPort = describeAddress(address);
  size_t colon = ipPort.rfind(':');
  send("peer " + std::to_string(peer) + " " + ipPort.substr(0, colon) + " " + ipPort.substr(colon + 1) + "\n");
}

void HeraldProcess::dropPeer(PeerId peer) { send("drop " + std::to_string(peer) + "\n"); }

void HeraldProcess::send(const std::string& line) {
  if (pipeFd_ < 0) return;
  // Lines are far below PIPE_BUF: each write is whole. A helper that died gives EPIPE (Node
  // ignores SIGPIPE): the herald is gone, which costs only time (herald.h).
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = write(pipeFd_, line.data() + sent, line.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      logLine("death herald (pid %d) stopped reading its instructions: %s", int(pid_), n < 0 ? strerror(errno) : "short write");
      ::close(pipeFd_);
      pipeFd_ = -1;
      return;
    }
    sent += size_t(n);
  }
}

void HeraldProcess::stop() {
  if (liveness_) liveness_->releaseLiveness();  // the clean unlock: the helper exits silently
  if (pipeFd_ >= 0) ::close(pipeFd_);
  pipeFd_ = -1;
  if (pid_ > 0) {
    // Reaped here (Node's own SIGCHLD handling only reaps the children it spawned). The helper
    // exits within a scheduler hop of the unlock; one that does not is killed.
    int status = 0;
    pid_t done = 0;
    for (int waitedMs = 0; waitedMs < kStopWaitMs; waitedMs++) {
      done = waitpid(pid_, &status, WNOHANG);
      if (done != 0) break;
      timespec ms{0, 1000000L};
      nanosleep(&ms, nullptr);
    }
    if (done == 0) {
      logLine("death herald (pid %d) did not exit within %d ms of a clean close; killed", int(pid_), kStopWaitMs);
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = 0;
  }
  liveness_.reset();
}

}  // namespace fabric
