// The completion queue of one fabric: filled by the JS thread (shm) or a native thread (tcp, verbs),
// drained by pollCompletions on the JS thread. `arm` lets one idle waiter be woken by the next push.
// Completions made on the JS thread itself (shm's synchronous writes and reads) go into a second
// queue that only that thread touches: no lock per push and per poll (a leader pushes two or more
// completions per entry, and the four lock operations cost about 60 ns of a 1.3 us entry).
#pragma once
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "fabric_types.h"

namespace fabric {

class CompletionQueue {
 public:
  // Must be constructed on the JS thread (pushLocal checks against it).
  CompletionQueue() : jsThread_(std::this_thread::get_id()) {}
  // From any thread.
  void push(Completion&& completion);
  // From the JS thread only.
  void pushLocal(Completion&& completion);
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
  // With mu_ held: ends the armed wait, returning the waker to call once the lock is released
  // (null if no waiter was armed).
  std::function<void()> disarmLocked();

  std::mutex mu_;
  std::deque<Completion> queue_;
  // Mirrors queue_.size() (written under mu_): an empty shared queue is skipped without the lock. A
  // push racing with that read is seen by the next poll, or by arm(), which checks under the lock.
  std::atomic<size_t> queued_{0};
  // JS thread only.
  std::deque<Completion> local_;
  const std::thread::id jsThread_;
  bool armed_ = false;
  std::atomic<bool> armedHint_{false};  // mirrors armed_ for lock-free reads
  std::function<void()> waker_;
};

}  // namespace fabric
