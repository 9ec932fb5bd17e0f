// Node-API surface of the fabric: one NativeFabric object per node, wrapping a Backend.
// binding/index.ts adapts it to the Fabric interface of binding/fabric.ts.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "backend.h"
#include "sha256.h"

namespace fabric {
namespace {

// The ThreadSafeFunction that wakes a JS waiter; released exactly once, after which wakes are no-ops.
struct Wake {
  std::mutex mu;
  Napi::ThreadSafeFunction fn;
  bool released = false;
  void call() {
    std::lock_guard<std::mutex> lock(mu);
    if (!released) fn.NonBlockingCall();
  }
  // `callback(env, jsFunction)` runs on the JS thread instead of a plain call.
  template <typename Callback>
  void call(Callback callback) {
    std::lock_guard<std::mutex> lock(mu);
    if (!released) fn.NonBlockingCall(std::move(callback));
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    if (!released) {
      released = true;
      fn.Release();
    }
  }
};

// An event from native threads told to JS (peers' writes into watched regions, watched peers gone):
// at most one call is queued at a time, however many events happen before the JS thread runs it.
struct CoalescedSignal {
  Wake wake;
  std::atomic<bool> queued{false};
  void call(const std::shared_ptr<CoalescedSignal>& self) {
    if (queued.exchange(true, std::memory_order_acq_rel)) return;
    wake.call([self](Napi::Env, Napi::Function js) {
      // Cleared before the handler runs: an event during it queues the next call.
      self->queued.store(false, std::memory_order_release);
      js.Call({});
    });
  }
};

struct PendingRead {
  Napi::Reference<Napi::Buffer<uint8_t>> into;
  size_t intoOffset;
  size_t length;
};

std::string stringOption(const Napi::Object& options, const char* key) {
  Napi::Value v = options.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

// Node ids and wr ids cross the boundary as JS numbers; both are checked to be exact integers.
PeerId peerArg(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "peerId must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int32_t(d)) || d < 1) throw Napi::RangeError::New(v.Env(), "peerId must be an integer >= 1");
  return PeerId(d);
}

uint64_t sizeArg(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != double(uint64_t(d)))
    throw Napi::RangeError::New(v.Env(), std::string(what) + " must be a non-negative integer");
  return uint64_t(d);
}

std::string nameArg(const Napi::Value& v) {
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), "region must be a string");
  std::string name = v.As<Napi::String>().Utf8Value();
  if (!validName(name)) throw Napi::TypeError::New(v.Env(), "invalid region name '" + name + "' (want [A-Za-z0-9_.-]{1,64})");
  return name;
}

class NativeFabric : public Napi::ObjectWrap<NativeFabric> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeFabric",
                       {InstanceMethod("registerRegion", &NativeFabric::registerRegion),
                        InstanceMethod("connectPeer", &NativeFabric::connectPeer),
                        InstanceMethod("disconnectPeer", &NativeFabric::disconnectPeer),
                        InstanceMethod("peerState", &NativeFabric::peerState),
                        InstanceMethod("postWrite", &NativeFabric::postWrite),
                        InstanceMethod("postRead", &NativeFabric::postRead),
                        InstanceMethod("pollInto", &NativeFabric::pollInto),
                        InstanceMethod("detail", &NativeFabric::detail),
                        InstanceMethod("armWait", &NativeFabric::armWait),
                        InstanceMethod("grantWrite", &NativeFabric::grantWrite),
                        InstanceMethod("writeHolder", &NativeFabric::writeHolder),
                        InstanceMethod("listenPort", &NativeFabric::listenPort),
                        InstanceMethod("holdPeerLockForTest", &NativeFabric::holdPeerLockForTest),
                        InstanceMethod("watchRemoteWrites", &NativeFabric::watchRemoteWrites),
                        InstanceMethod("watchPeerGone", &NativeFabric::watchPeerGone),
                        InstanceMethod("close", &NativeFabric::close)});
  }

  // new NativeFabric(kind, options, onWake, onRemoteWrite, onPeerGone)
  NativeFabric(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeFabric>(info),
        wake_(std::make_shared<Wake>()),
        remoteWrite_(std::make_shared<CoalescedSignal>()),
        peerGone_(std::make_shared<CoalescedSignal>()) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsFunction() || !info[3].IsFunction() || !info[4].IsFunction())
      throw Napi::TypeError::New(env, "new NativeFabric(kind, options, onWake, onRemoteWrite, onPeerGone)");
    std::string kind = info[0].As<Napi::String>().Utf8Value();
    Napi::Object o = info[1].As<Napi::Object>();
    BackendOptions options;
    options.selfId = peerArg(o.Get("selfId"));
    options.cluster = stringOption(o, "cluster");
    if (!validName(options.cluster)) throw Napi::TypeError::New(env, "invalid cluster name '" + options.cluster + "' (want [A-Za-z0-9_.-]{1,64})");
    options.secret = stringOption(o, "secret");
    options.listenHost = stringOption(o, "listenHost");
    Napi::Value port = o.Get("listenPort");
    options.listenPort = port.IsNumber() ? port.As<Napi::Number>().Int32Value() : 0;
    options.shmDir = stringOption(o, "shmDir");
    options.device = stringOption(o, "device");
    options.gid = stringOption(o, "gid");
    if (kind == "shm") backend_ = makeShmBackend(options);
    else if (kind == "tcp") backend_ = makeTcpBackend(options);
    else if (kind == "verbs") backend_ = makeVerbsBackend(options);
    else throw Napi::TypeError::New(env, "unknown fabric kind '" + kind + "' (want shm, tcp or verbs)");

    wake_->fn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "fabric-wake", 0, 1);
    wake_->fn.Unref(env);  // an idle fabric must not keep the process alive; waiters hold a timer
    std::shared_ptr<Wake> wake = wake_;
    backend_->completions().setWaker([wake] { wake->call(); });
    remoteWrite_->wake.fn = Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "fabric-remote-write", 0, 1);
    remoteWrite_->wake.fn.Unref(env);
    std::shared_ptr<CoalescedSignal> signal = remoteWrite_;
    backend_->setRemoteWriteNotifier([signal] { signal->call(signal); });
    peerGone_->wake.fn = Napi::ThreadSafeFunction::New(env, info[4].As<Napi::Function>(), "fabric-peer-gone", 0, 1);
    peerGone_->wake.fn.Unref(env);
    std::shared_ptr<CoalescedSignal> gone = peerGone_;
    backend_->setPeerGoneNotifier([gone] { gone->call(gone); });
  }

  ~NativeFabric() override {
    if (backend_) backend_->close();
    wake_->release();
    remoteWrite_->wake.release();
    peerGone_->wake.release();
  }

 private:
  Napi::Value registerRegion(const Napi::CallbackInfo& info) {
    std::string name = nameArg(info[0]);
    uint64_t bytes = sizeArg(info[1], "bytes");
    if (bytes == 0 || bytes > (uint64_t(1) << 40)) throw Napi::RangeError::New(info.Env(), "region bytes must be in 1..2^40");
    std::shared_ptr<RegionMemory> memory = live().registerRegion(name, size_t(bytes));
    auto* keep = new std::shared_ptr<RegionMemory>(memory);
    return Napi::Buffer<uint8_t>::New(info.Env(), memory->data(), memory->bytes(),
                                      [](Napi::Env, uint8_t*, std::shared_ptr<RegionMemory>* k) { delete k; }, keep);
  }

  Napi::Value connectPeer(const Napi::CallbackInfo& info) {
    PeerId peer = peerArg(info[0]);
    std::string host = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
    int port = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    live().connectPeer(peer, host, port);
    return info.Env().Undefined();
  }

  Napi::Value disconnectPeer(const Napi::CallbackInfo& info) {
    live().disconnectPeer(peerArg(info[0]));
    return info.Env().Undefined();
  }

  Napi::Value peerState(const Napi::CallbackInfo& info) {
    PeerId peer = peerArg(info[0]);
    return Napi::String::New(info.Env(), peerStateName(backend_ ? backend_->peerState(peer) : PeerState::Unreachable));
  }

  // postWrite(peerId, region, offset, data) -> wrId
  Napi::Value postWrite(const Napi::CallbackInfo& info) {
    PeerId peer = peerArg(info[0]);
    std::string region = nameArg(info[1]);
    uint64_t offset = sizeArg(info[2], "offset");
    if (!info[3].IsBuffer()) throw Napi::TypeError::New(info.Env(), "data must be a Buffer");
    auto data = info[3].As<Napi::Buffer<uint8_t>>();
    uint64_t wrId = nextWrId_++;
    live().postWrite(wrId, peer, region, offset, data.Data(), data.Length());
    return Napi::Number::New(info.Env(), double(wrId));
  }

  // postRead(peerId, region, offset, length, into, intoOffset) -> wrId
  Napi::Value postRead(const Napi::CallbackInfo& info) {
    PeerId peer = peerArg(info[0]);
    std::string region = nameArg(info[1]);
    uint64_t offset = sizeArg(info[2], "offset");
    uint64_t length = sizeArg(info[3], "length");
    if (!info[4].IsBuffer()) throw Napi::TypeError::New(info.Env(), "into must be a Buffer");
    auto into = info[4].As<Napi::Buffer<uint8_t>>();
    uint64_t intoOffset = info[5].IsUndefined() ? 0 : sizeArg(info[5], "intoOffset");
    if (intoOffset > into.Length() || length > into.Length() - intoOffset)
      throw Napi::RangeError::New(info.Env(), "into is too small for the read");
    uint64_t wrId = nextWrId_++;
    // Registered before posting: a native thread may complete the read before postRead returns.
    pendingReads_.emplace(wrId, PendingRead{Napi::Persistent(into), size_t(intoOffset), size_t(length)});
    live().postRead(wrId, peer, region, offset, size_t(length), into.Data() + intoOffset);
    return Napi::Number::New(info.Env(), double(wrId));
  }

  // pollInto(out: Float64Array, max) -> count. Completion i is out[3i..3i+2] = wrId, peerId, error
  // code (0 = ok, else ErrorKind); detail(i) gives its text. Numbers in a typed array instead of
  // objects built here: the JS side builds the objects far more cheaply (shm targets 1 µs).
  Napi::Value pollInto(const Napi::CallbackInfo& info) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(info.Env(), "pollInto(out: Float64Array, max)");
    auto out = info[0].As<Napi::Float64Array>();
    size_t max = std::min<size_t>(out.ElementLength() / 3, size_t(sizeArg(info[1], "max")));
    scratch_.clear();
    details_.clear();
    if (backend_) {
      backend_->completions().popUpTo(max, scratch_);
      if (scratch_.empty() && max > 0 && !closedCompletions_) {
        backend_->reapCompletions();
        backend_->completions().popUpTo(max, scratch_);
      }
    }
    double* slot = out.Data();
    for (size_t i = 0; i < scratch_.size(); i++) {
      Completion& c = scratch_[i];
      slot[3 * i] = double(c.wrId);
      slot[3 * i + 1] = double(c.peerId);
      slot[3 * i + 2] = double(uint8_t(c.error));
      if (c.isRead) finishRead(c);
      details_.push_back(std::move(c.detail));
    }
    return Napi::Number::New(info.Env(), double(scratch_.size()));
  }

  Napi::Value detail(const Napi::CallbackInfo& info) {
    size_t i = size_t(sizeArg(info[0], "index"));
    if (i >= details_.size()) return info.Env().Undefined();
    return Napi::String::New(info.Env(), details_[i]);
  }

  void finishRead(Completion& c) {
    auto it = pendingReads_.find(c.wrId);
    FABRIC_ASSERT(it != pendingReads_.end());
    if (c.error == ErrorKind::None && c.hasReadData) {
      FABRIC_ASSERT(c.readData.size() == it->second.length);
      Napi::Buffer<uint8_t> into = it->second.into.Value();
      FABRIC_ASSERT(it->second.intoOffset + it->second.length <= into.Length());
      memcpy(into.Data() + it->second.intoOffset, c.readData.data(), c.readData.size());
    }
    pendingReads_.erase(it);
  }

  Napi::Value armWait(const Napi::CallbackInfo& info) {
    if (!backend_ || closedCompletions_) return Napi::Boolean::New(info.Env(), true);
    bool ready = backend_->completions().arm();
    if (!ready) backend_->waiterArmed();
    return Napi::Boolean::New(info.Env(), ready);
  }

  Napi::Value grantWrite(const Napi::CallbackInfo& info) {
    std::string region = nameArg(info[0]);
    PeerId peer = info[1].IsNull() || info[1].IsUndefined() ? kNoPeer : peerArg(info[1]);
    live().grantWrite(region, peer);
    return info.Env().Undefined();
  }

  Napi::Value writeHolder(const Napi::CallbackInfo& info) {
    PeerId holder = live().writeHolder(nameArg(info[0]));
    if (holder == kNoPeer) return info.Env().Null();
    return Napi::Number::New(info.Env(), holder);
  }

  Napi::Value listenPort(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), backend_ ? backend_->listenPort() : 0);
  }

  Napi::Value holdPeerLockForTest(const Napi::CallbackInfo& info) {
    live().holdPeerLockForTest(peerArg(info[0]), nameArg(info[1]), uint32_t(sizeArg(info[2], "ms")));
    return info.Env().Undefined();
  }

  Napi::Value watchRemoteWrites(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live().watchRemoteWrites(nameArg(info[0])));
  }

  Napi::Value watchPeerGone(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live().watchPeerGone(peerArg(info[0]), nameArg(info[1])));
  }

  Napi::Value close(const Napi::CallbackInfo& info) {
    if (backend_) {
      backend_->close();
      // Completions still queued (e.g. failures of in-flight work) stay pollable.
      closedCompletions_ = true;
    }
    wake_->release();
    remoteWrite_->wake.release();
    peerGone_->wake.release();
    return info.Env().Undefined();
  }

  Backend& live() {
    if (!backend_ || closedCompletions_) throw std::runtime_error("fabric is closed");
    return *backend_;
  }

  std::unique_ptr<Backend> backend_;
  std::shared_ptr<Wake> wake_;
  std::shared_ptr<CoalescedSignal> remoteWrite_;
  std::shared_ptr<CoalescedSignal> peerGone_;
  uint64_t nextWrId_ = 1;
  bool closedCompletions_ = false;
  std::unordered_map<uint64_t, PendingRead> pendingReads_;
  std::vector<Completion> scratch_;
  std::vector<std::string> details_;  // of the last pollInto, by index
};

Napi::Value hmacSha256Js(const Napi::CallbackInfo& info) {
  if (!info[0].IsBuffer() || !info[1].IsBuffer()) throw Napi::TypeError::New(info.Env(), "hmacSha256(key: Buffer, message: Buffer)");
  auto key = info[0].As<Napi::Buffer<uint8_t>>();
  auto msg = info[1].As<Napi::Buffer<uint8_t>>();
  Digest mac = hmacSha256(key.Data(), key.Length(), msg.Data(), msg.Length());
  return Napi::Buffer<uint8_t>::Copy(info.Env(), mac.data(), mac.size());
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeFabric", NativeFabric::define(env));
  // Exposed so tests can check the native HMAC against node:crypto.
  exports.Set("hmacSha256", Napi::Function::New(env, hmacSha256Js));
#ifdef FABRIC_HAVE_VERBS
  exports.Set("hasVerbs", Napi::Boolean::New(env, true));
#else
  exports.Set("hasVerbs", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace
}  // namespace fabric

static Napi::Object initModule(Napi::Env env, Napi::Object exports) { return fabric::init(env, exports); }
NODE_API_MODULE(mucached_fabric, initModule)
