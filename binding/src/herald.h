// The tcp fabric's death herald: a small helper process beside each node that tells the node's
// peers the moment the node's process dies.
//
// Why: over tcp a peer learns of a SIGKILL only when the kernel closes the dead process's sockets,
// and the kernel does that after tearing down the process's memory: measured here 4 ms for a bare
// Node process, 10 ms at 140 MB, 40-60 ms at 1 GB. A fail-over waited out that teardown (shm has
// the liveness lock instead; see shm_region.h). The herald waits on this node's liveness lock (a
// robust mutex the node's JS thread holds), which the kernel marks as its owner dies, before the
// teardown; the herald then sends DEATH (tcp_frames.h) over its own authenticated connection to
// every peer, and the peers fail this node's connection as Gone at once.
//
// The herald only ever speeds up what the peers would learn anyway, and only for a process that
// died: a clean close unlocks the lock, and the herald exits without a word. Mu's safety does not
// rest on failure detection (permissions do), so a herald that is missing, late or killed along
// with its node costs only time.
#pragma once
#include <netinet/in.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "fabric_types.h"

namespace fabric {

class ShmMapping;

class HeraldProcess {
 public:
  // Starts the helper binary at `path`. On failure logs one line and stays inert: peers then learn
  // of this node's death when its connections close, as without a herald. JS thread only (the
  // thread that holds the liveness lock, for the life of this object).
  HeraldProcess(const std::string& path, PeerId self, const std::string& cluster, const std::string& secret);
  ~HeraldProcess();
  HeraldProcess(const HeraldProcess&) = delete;
  HeraldProcess& operator=(const HeraldProcess&) = delete;

  void addPeer(PeerId peer, const sockaddr_in& address);
  void dropPeer(PeerId peer);
  // Clean close: unlock the liveness lock (the herald exits without telling anyone), close the
  // pipe, reap the process. Idempotent; on the thread that constructed this object.
  void stop();
  // The helper's pid while it runs (0 if it did not start or was stopped).
  pid_t pid() const { return pid_; }

 private:
  void send(const std::string& line);

  std::shared_ptr<ShmMapping> liveness_;
  int pipeFd_ = -1;
  pid_t pid_ = 0;
};

}  // namespace fabric
