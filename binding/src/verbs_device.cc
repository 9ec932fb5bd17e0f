// verbs backend: choosing the device and opening what every connection shares (rdma_cm event
// channel and listening id, protection domain, CQ with its completion channel, staging buffers).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "verbs_backend.h"

namespace fabric {
namespace {

const char* kInsteadHint =
    "; select another fabric: kind 'shm' (all nodes on one host) or kind 'tcp' (any hosts; needs the cluster secret)";

std::string deviceNames() {
  int count = 0;
  ibv_device** devices = ibv_get_device_list(&count);
  std::string names;
  for (int i = 0; devices && i < count; i++) names += std::string(i ? ", " : "") + ibv_get_device_name(devices[i]);
  if (devices) ibv_free_device_list(devices);
  if (count <= 0) throw std::runtime_error(std::string("no RDMA device found (ibv_get_device_list returned 0)") + kInsteadHint);
  return names;
}

// The address rdma_cm can bind to reach device `name` (see roceV2Address).
std::string addressOfDevice(const std::string& name, const std::string& names) {
  int count = 0;
  ibv_device** devices = ibv_get_device_list(&count);
  ibv_context* context = nullptr;
  for (int i = 0; devices && i < count && !context; i++)
    if (name == ibv_get_device_name(devices[i])) context = ibv_open_device(devices[i]);
  if (devices) ibv_free_device_list(devices);
  if (!context) throw std::runtime_error("verbs: no RDMA device named '" + name + "' (devices: " + names + ")");
  std::vector<ibv_gid_entry> table(256);
  ssize_t n = ibv_query_gid_table(context, table.data(), table.size(), 0);
  ibv_close_device(context);
  std::vector<GidEntry> entries;
  for (ssize_t i = 0; i < n; i++) {
    GidEntry e;
    memcpy(e.gid.data(), table[size_t(i)].gid.raw, 16);
    e.type = table[size_t(i)].gid_type;
    e.port = table[size_t(i)].port_num;
    entries.push_back(e);
  }
  std::string address = roceV2Address(entries);
  if (address.empty())
    throw std::runtime_error("verbs: device " + name + " has no RoCE v2 GID with an IP address (InfiniBand-only, or no IP on its netdev): set options.gid to the address to use");
  return address;
}

void setNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) throw std::runtime_error(std::string("verbs: fcntl: ") + strerror(errno));
}

}  // namespace

// An IP literal or host name; an IPv4-mapped IPv6 address (how RoCE v2 GIDs of IPv4 interfaces
// read) becomes the IPv4 address rdma_cm binds to.
sockaddr_storage resolveVerbsAddress(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found) throw std::runtime_error("verbs: cannot resolve '" + host + "': " + gai_strerror(rc));
  sockaddr_storage out{};
  memcpy(&out, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (out.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      sockaddr_in v4{};
      v4.sin_family = AF_INET;
      memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], 4);
      out = sockaddr_storage{};
      memcpy(&out, &v4, sizeof v4);
    }
  }
  if (out.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&out)->sin_port = htons(uint16_t(port));
  else reinterpret_cast<sockaddr_in6*>(&out)->sin6_port = htons(uint16_t(port));
  return out;
}

void VerbsBackend::openDevice(const BackendOptions& options) {
  std::string names = deviceNames();  // throws the no-device error first, before anything else
  bool deviceIsAddress = isIpAddress(options.device);
  std::string host = !options.gid.empty() ? options.gid : deviceIsAddress ? options.device : options.listenHost;
  if (host.empty() && !options.device.empty()) host = addressOfDevice(options.device, names);
  if (host.empty())
    throw std::runtime_error("verbs: RDMA devices found (" + names +
                             ") but no address to use: set options.device to one of them, or options.gid (or listenHost) to the IP of the RDMA interface");
  if (options.listenPort < 0 || options.listenPort > 65535) throw std::runtime_error("verbs: listenPort out of range");
  bindAddress_ = resolveVerbsAddress(host, options.listenPort);

  cmChannel_ = rdma_create_event_channel();
  if (!cmChannel_) throw std::runtime_error(std::string("verbs: rdma_create_event_channel: ") + strerror(errno));
  if (rdma_create_id(cmChannel_, &listenId_, nullptr, RDMA_PS_TCP) != 0) throw std::runtime_error(std::string("verbs: rdma_create_id: ") + strerror(errno));
  if (rdma_bind_addr(listenId_, reinterpret_cast<sockaddr*>(&bindAddress_)) != 0)
    throw std::runtime_error("verbs: cannot bind " + host + " (is it the address of an RDMA interface? devices: " + names + "): " + strerror(errno));
  if (!listenId_->verbs)
    throw std::runtime_error("verbs: no RDMA device serves " + host + " (devices: " + names + ")");
  std::string bound = ibv_get_device_name(listenId_->verbs->device);
  if (!options.device.empty() && !deviceIsAddress && options.device != bound)
    throw std::runtime_error("verbs: " + host + " is served by device " + bound + ", not " + options.device);
  if (rdma_listen(listenId_, 64) != 0) throw std::runtime_error(std::string("verbs: rdma_listen: ") + strerror(errno));
  listenPort_ = ntohs(rdma_get_src_port(listenId_));
  context_ = listenId_->verbs;

  ibv_device_attr deviceAttr{};
  if (ibv_query_device(context_, &deviceAttr) == 0)
    rdAtomic_ = std::max(1, std::min({16, deviceAttr.max_qp_rd_atom, deviceAttr.max_qp_init_rd_atom}));
  pd_ = ibv_alloc_pd(context_);
  if (!pd_) throw std::runtime_error(std::string("verbs: ibv_alloc_pd: ") + strerror(errno));
  compChannel_ = ibv_create_comp_channel(context_);
  if (!compChannel_) throw std::runtime_error(std::string("verbs: ibv_create_comp_channel: ") + strerror(errno));
  cq_ = ibv_create_cq(context_, kCqEntries, nullptr, compChannel_, 0);
  if (!cq_) throw std::runtime_error(std::string("verbs: ibv_create_cq: ") + strerror(errno));
  if (ibv_req_notify_cq(cq_, 0) != 0) throw std::runtime_error(std::string("verbs: ibv_req_notify_cq: ") + strerror(errno));
  staging_.open(pd_);

  setNonBlocking(cmChannel_->fd);
  setNonBlocking(compChannel_->fd);
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epollFd_ < 0 || wakeFd_ < 0) throw std::runtime_error(std::string("verbs: epoll/eventfd: ") + strerror(errno));
  int fds[3] = {cmChannel_->fd, compChannel_->fd, wakeFd_};
  for (int i = 0; i < 3; i++) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = uint32_t(i);
    if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fds[i], &ev) != 0) throw std::runtime_error(std::string("verbs: epoll_ctl: ") + strerror(errno));
  }
  logLine("node %d: verbs on device %s, %s port %d", self_, bound.c_str(), host.c_str(), listenPort_);
}

// Releases whatever openDevice created, in reverse order; safe after a partial open.
void VerbsBackend::closeDevice() {
  staging_.close();
  if (cq_) ibv_destroy_cq(cq_);
  cq_ = nullptr;
  if (compChannel_) ibv_destroy_comp_channel(compChannel_);
  compChannel_ = nullptr;
  for (auto& [name, region] : regions_) {
    if (region.mr) ibv_dereg_mr(region.mr);
    region.mr = nullptr;
  }
  if (pd_) ibv_dealloc_pd(pd_);
  pd_ = nullptr;
  if (listenId_) rdma_destroy_id(listenId_);
  listenId_ = nullptr;
  context_ = nullptr;
  if (cmChannel_) rdma_destroy_event_channel(cmChannel_);
  cmChannel_ = nullptr;
  if (wakeFd_ >= 0) ::close(wakeFd_);
  if (epollFd_ >= 0) ::close(epollFd_);
  wakeFd_ = epollFd_ = -1;
}

}  // namespace fabric
