// verbs backend (RDMA through libibverbs/librdmacm). This build has the libraries; what is done so
// far is device discovery, so a host without an RDMA device gets the exact error mu-core and
// users see, with the backends to use instead. The RDMA data path (rdma_cm RC queue pairs per
// peer, memory registration, WRITE/READ, CQ polling, access-flag changes with QP re-creation) is
// not written yet: on a host with a device, opening verbs says so instead of pretending.
#include <infiniband/verbs.h>

#include <stdexcept>
#include <string>

#include "backend.h"

namespace fabric {

static const char* kInsteadHint =
    "; select another fabric: kind 'shm' (all nodes on one host) or kind 'tcp' (any hosts; needs the cluster secret)";

std::unique_ptr<Backend> makeVerbsBackend(const BackendOptions& options) {
  int count = 0;
  ibv_device** devices = ibv_get_device_list(&count);
  std::string names;
  for (int i = 0; devices && i < count; i++) names += std::string(i ? ", " : "") + ibv_get_device_name(devices[i]);
  if (devices) ibv_free_device_list(devices);
  if (count <= 0) throw std::runtime_error(std::string("no RDMA device found (ibv_get_device_list returned 0)") + kInsteadHint);
  throw std::runtime_error("verbs backend: RDMA devices found (" + names + (options.device.empty() ? "" : "; asked for " + options.device) +
                           ") but the RDMA data path is not implemented in this build yet" + kInsteadHint);
}

}  // namespace fabric
