#include "completion_queue.h"

namespace fabric {

void CompletionQueue::push(Completion&& completion) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(completion));
    queued_.store(queue_.size(), std::memory_order_release);
    wake = disarmLocked();
  }
  if (wake) wake();
}

std::function<void()> CompletionQueue::disarmLocked() {
  if (!armed_) return nullptr;
  armed_ = false;
  armedHint_.store(false, std::memory_order_relaxed);
  return waker_;
}

void CompletionQueue::pushLocal(Completion&& completion) {
  FABRIC_ASSERT(std::this_thread::get_id() == jsThread_);
  local_.push_back(std::move(completion));
  // A JS waiter parked before this push is woken as by push() (arm() saw both queues empty).
  if (armedHint_.load(std::memory_order_relaxed)) {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake = disarmLocked();
    }
    if (wake) wake();
  }
}

void CompletionQueue::popUpTo(size_t max, std::vector<Completion>& out) {
  while (max > 0 && !local_.empty()) {
    out.push_back(std::move(local_.front()));
    local_.pop_front();
    max--;
  }
  if (max == 0 || queued_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  while (max > 0 && !queue_.empty()) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
    max--;
  }
  queued_.store(queue_.size(), std::memory_order_release);
}

size_t CompletionQueue::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + local_.size();
}

bool CompletionQueue::arm() {
  if (!local_.empty()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (!queue_.empty()) return true;
  armed_ = true;
  armedHint_.store(true, std::memory_order_relaxed);
  return false;
}

void CompletionQueue::setWaker(std::function<void()> waker) {
  std::lock_guard<std::mutex> lock(mu_);
  waker_ = std::move(waker);
}

}  // namespace fabric
