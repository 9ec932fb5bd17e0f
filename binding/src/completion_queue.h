// The completion queue of one fabric: filled by the JS thread (shm) or a native thread (tcp, verbs),
// drained by pollCompletions on the JS thread. `arm` lets one idle waiter be woken by the next push.
#pragma once
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>

#include "fabric_types.h"

namespace fabric {

class CompletionQueue {
 public:
  void push(Completion&& completion);
  // Moves at most `max` completions into `out`, oldest first.
  void popUpTo(size_t max, std::vector<Completion>& out);
  size_t size();
  // Returns true if completions are already queued (the caller must not wait); otherwise the next
  // push calls the waker once. Checked and armed under one lock so no wake-up is lost.
  bool arm();
  void setWaker(std::function<void()> waker);
  // A JS waiter is parked until the next push (a hint for native threads: worth busy-polling).
  bool waiterArmed() const { return armedHint_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::deque<Completion> queue_;
  bool armed_ = false;
  std::atomic<bool> armedHint_{false};  // mirrors armed_ for lock-free reads
  std::function<void()> waker_;
};

}  // namespace fabric
