// Built instead of verbs_backend.cc when CMake found no libibverbs/librdmacm headers.
#include <stdexcept>

#include "backend.h"

namespace fabric {

std::unique_ptr<Backend> makeVerbsBackend(const BackendOptions&) {
  throw std::runtime_error(
      "this build of the fabric has no verbs backend (libibverbs/librdmacm headers were missing when it was compiled: "
      "apt-get install libibverbs-dev librdmacm-dev and rebuild with npm run build:native); "
      "select kind 'shm' (all nodes on one host) or kind 'tcp' (any hosts, with a cluster secret)");
}

}  // namespace fabric
