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
  // The environment is tearing down and Node closes the function itself: from now on no call, and
  // no release (after Node freed it, a release locks a destroyed mutex and aborts the process).
  void forget() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
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
                        InstanceMethod("regionId", &NativeFabric::regionId),
                        InstanceMethod("postRead", &NativeFabric::postRead),
                        InstanceMethod("detail", &NativeFabric::detail),
                        InstanceMethod("armWait", &NativeFabric::armWait),
                        InstanceMethod("grantWrite", &NativeFabric::grantWrite),
                        InstanceMethod("writeHolder", &NativeFabric::writeHolder),
                        InstanceMethod("listenPort", &NativeFabric::listenPort),
                        InstanceMethod("heraldPid", &NativeFabric::heraldPid),
                        InstanceMethod("heraldConnected", &NativeFabric::heraldConnected),
                        InstanceMethod("holdPeerLockForTest", &NativeFabric::holdPeerLockForTest),
                        InstanceMethod("watchRemoteWrites", &NativeFabric::watchRemoteWrites),
                        InstanceMethod("watchPeerGone", &NativeFabric::watchPeerGone),
                        InstanceMethod("armGrant", &NativeFabric::armGrant),
                        InstanceMethod("disarmGrant", &NativeFabric::disarmGrant),
                        InstanceMethod("takeArmedGrants", &NativeFabric::takeArmedGrants),
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
    options.heraldPath = stringOption(o, "heraldPath");
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
    // Registered after the threadsafe functions' own hooks, so it runs before them (hooks run in
    // reverse order): a process that ends without close() must not release them after Node did.
    env_ = env;
    FABRIC_ASSERT(napi_add_env_cleanup_hook(env, &NativeFabric::onEnvTeardown, this) == napi_ok);

    // The two calls of every replicated entry are plain functions on this object, not prototype
    // methods: a method unwraps `this` (a private-symbol lookup) on every call, which with the
    // argument checks of the general path cost more than the shm write itself. Their data pointer is
    // this object: they are reachable only through it (binding/index.ts keeps them there), so they
    // are never called after it was collected.
    Napi::Object self = info.This().As<Napi::Object>();
    Napi::Float64Array pollArray = Napi::Float64Array::New(env, 3 * kMaxPoll);
    pollSlots_ = pollArray.Data();
    pollArray_ = Napi::Persistent(pollArray);
    self.Set("pollBuffer", pollArray);
    self.Set("postWriteTo", hotFunction<&NativeFabric::postWriteTo>(env, "postWriteTo"));
    self.Set("pollReady", hotFunction<&NativeFabric::pollReady>(env, "pollReady"));
  }

  ~NativeFabric() override {
    if (env_ != nullptr && !envTearingDown_) napi_remove_env_cleanup_hook(env_, &NativeFabric::onEnvTeardown, this);
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

  // regionId(name) -> the number postWriteTo takes for `name` (the same number for the same name).
  Napi::Value regionId(const Napi::CallbackInfo& info) {
    std::string name = nameArg(info[0]);
    auto it = regionIds_.find(name);
    if (it == regionIds_.end()) {
      it = regionIds_.emplace(name, uint32_t(regionNames_.size())).first;
      regionNames_.push_back(name);
    }
    return Napi::Number::New(info.Env(), it->second);
  }

  using HotCall = napi_value (NativeFabric::*)(napi_env, napi_value*, size_t);

  template <HotCall call>
  Napi::Function hotFunction(Napi::Env env, const char* name) {
    napi_value fn;
    FABRIC_ASSERT(napi_create_function(env, name, NAPI_AUTO_LENGTH, &trampoline<call>, this, &fn) == napi_ok);
    return Napi::Function(env, fn);
  }

  template <HotCall call>
  static napi_value trampoline(napi_env env, napi_callback_info cbinfo) {
    // Room for the longest hot call (postWriteTo with a source range); missing ones read as undefined.
    napi_value argv[6];
    size_t argc = 6;
    void* data = nullptr;
    if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data) != napi_ok) return nullptr;
    auto* self = static_cast<NativeFabric*>(data);
    try {
      return (self->*call)(env, argv, argc);
    } catch (const std::exception& e) {
      napi_throw_error(env, nullptr, e.what());
      return nullptr;
    }
  }

  // postWriteTo(peerId, regionId, offset, data[, dataStart, dataLength]) -> wrId: writes all of
  // `data`, or its bytes [dataStart, dataStart + dataLength) (the caller then makes no view object per
  // write). Same checks as every call: a bad argument throws, never reaches the backend.
  napi_value postWriteTo(napi_env env, napi_value* argv, size_t argc) {
    double peerD = 0, offsetD = 0;
    uint32_t regionNo = 0;
    void* data = nullptr;
    size_t length = 0;
    if (argc < 4 || napi_get_value_double(env, argv[0], &peerD) != napi_ok || napi_get_value_uint32(env, argv[1], &regionNo) != napi_ok ||
        napi_get_value_double(env, argv[2], &offsetD) != napi_ok || napi_get_buffer_info(env, argv[3], &data, &length) != napi_ok) {
      napi_throw_type_error(env, nullptr, "postWriteTo(peerId: number, regionId: number, offset: number, data: Buffer, dataStart?: number, dataLength?: number)");
      return nullptr;
    }
    if (argc >= 5) {
      double startD = 0, lengthD = 0;
      if (napi_get_value_double(env, argv[4], &startD) != napi_ok || napi_get_value_double(env, argv[5], &lengthD) != napi_ok) {
        napi_throw_type_error(env, nullptr, "postWriteTo: dataStart and dataLength must be numbers");
        return nullptr;
      }
      // Integers inside the buffer: never a byte outside the caller's memory.
      if (!(startD >= 0) || !(lengthD >= 0) || startD != double(uint64_t(startD)) || lengthD != double(uint64_t(lengthD)) ||
          startD > double(length) || lengthD > double(length) - startD) {
        napi_throw_range_error(env, nullptr, "dataStart/dataLength outside data");
        return nullptr;
      }
      data = static_cast<uint8_t*>(data) + size_t(startD);
      length = size_t(lengthD);
    }
    if (peerD != double(int32_t(peerD)) || peerD < 1) {
      napi_throw_range_error(env, nullptr, "peerId must be an integer >= 1");
      return nullptr;
    }
    if (!(offsetD >= 0) || offsetD > 9007199254740991.0 || offsetD != double(uint64_t(offsetD))) {
      napi_throw_range_error(env, nullptr, "offset must be a non-negative integer");
      return nullptr;
    }
    if (regionNo >= regionNames_.size()) {
      napi_throw_range_error(env, nullptr, "unknown region id (use regionId(name))");
      return nullptr;
    }
    uint64_t wrId = nextWrId_++;
    live().postWrite(wrId, PeerId(peerD), regionNames_[regionNo], uint64_t(offsetD), static_cast<const uint8_t*>(data), length);
    napi_value out;
    napi_create_double(env, double(wrId), &out);
    return out;
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

  // pollReady(max) -> count. Completion i is pollBuffer[3i..3i+2] = wrId, peerId, error code
  // (0 = ok, else ErrorKind); detail(i) gives its text. Numbers in a typed array instead of objects
  // built here: the JS side builds the objects far more cheaply (shm targets 1 µs).
  napi_value pollReady(napi_env env, napi_value* argv, size_t argc) {
    double maxD = 0;
    if (argc < 1 || napi_get_value_double(env, argv[0], &maxD) != napi_ok || !(maxD >= 0)) {
      napi_throw_type_error(env, nullptr, "pollReady(max: number >= 0)");
      return nullptr;
    }
    size_t max = maxD >= double(kMaxPoll) ? kMaxPoll : size_t(maxD);
    scratch_.clear();
    details_.clear();
    if (backend_) {
      backend_->completions().popUpTo(max, scratch_);
      if (scratch_.empty() && max > 0 && !closedCompletions_) {
        backend_->reapCompletions();
        backend_->completions().popUpTo(max, scratch_);
      }
    }
    double* slot = pollSlots_;
    for (size_t i = 0; i < scratch_.size(); i++) {
      Completion& c = scratch_[i];
      slot[3 * i] = double(c.wrId);
      slot[3 * i + 1] = double(c.peerId);
      slot[3 * i + 2] = double(uint8_t(c.error));
      if (c.isRead) finishRead(c);
      details_.push_back(std::move(c.detail));
    }
    napi_value out;
    napi_create_uint32(env, uint32_t(scratch_.size()), &out);
    return out;
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

  Napi::Value heraldPid(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), backend_ ? backend_->heraldPid() : 0);
  }

  Napi::Value heraldConnected(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), backend_ ? backend_->heraldConnected(peerArg(info[0])) : false);
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

  // armGrant(whenGone, region, grantee, boxRegion, boxOffset, box, tag) -> armed
  Napi::Value armGrant(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    PeerId whenGone = peerArg(info[0]);
    std::string region = nameArg(info[1]);
    PeerId grantee = peerArg(info[2]);
    std::string boxRegion = nameArg(info[3]);
    uint64_t boxOffset = sizeArg(info[4], "boxOffset");
    if (!info[5].IsBuffer()) throw Napi::TypeError::New(env, "box must be a Buffer");
    auto box = info[5].As<Napi::Buffer<uint8_t>>();
    if (!info[6].IsNumber()) throw Napi::TypeError::New(env, "tag must be a number");
    double tag = info[6].As<Napi::Number>().DoubleValue();
    // The bytes are copied now: the caller may reuse its buffer.
    return Napi::Boolean::New(env, live().armGrant(whenGone, region, grantee, boxRegion, boxOffset, box.Data(), box.Length(), tag));
  }

  Napi::Value disarmGrant(const Napi::CallbackInfo& info) {
    live().disarmGrant();
    return info.Env().Undefined();
  }

  Napi::Value takeArmedGrants(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<Backend::ArmedGrant> made = live().takeArmedGrants();
    Napi::Array out = Napi::Array::New(env, made.size());
    for (size_t i = 0; i < made.size(); i++) {
      Napi::Object g = Napi::Object::New(env);
      g.Set("whenGone", Napi::Number::New(env, made[i].whenGone));
      g.Set("grantee", Napi::Number::New(env, made[i].grantee));
      g.Set("region", Napi::String::New(env, made[i].region));
      g.Set("tag", Napi::Number::New(env, made[i].tag));
      out.Set(uint32_t(i), g);
    }
    return out;
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

  static void onEnvTeardown(void* arg) {
    auto* self = static_cast<NativeFabric*>(arg);
    self->envTearingDown_ = true;
    self->wake_->forget();
    self->remoteWrite_->wake.forget();
    self->peerGone_->wake.forget();
  }

  napi_env env_ = nullptr;
  bool envTearingDown_ = false;

  std::unique_ptr<Backend> backend_;
  std::shared_ptr<Wake> wake_;
  std::shared_ptr<CoalescedSignal> remoteWrite_;
  std::shared_ptr<CoalescedSignal> peerGone_;
  uint64_t nextWrId_ = 1;
  bool closedCompletions_ = false;
  std::unordered_map<uint64_t, PendingRead> pendingReads_;
  std::vector<Completion> scratch_;
  std::vector<std::string> details_;  // of the last pollReady, by index
  // Region names by the ids regionId handed out (never removed: ids stay valid).
  std::vector<std::string> regionNames_;
  std::unordered_map<std::string, uint32_t> regionIds_;
  static constexpr size_t kMaxPoll = 1024;
  // pollReady's output, allocated here (its memory stays put) and held for as long as this object lives.
  Napi::Reference<Napi::Float64Array> pollArray_;
  double* pollSlots_ = nullptr;
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
