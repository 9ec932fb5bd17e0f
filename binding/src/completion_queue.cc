#include "completion_queue.h"

namespace fabric {

void CompletionQueue::push(Completion&& completion) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(completion));
    if (armed_) {
      armed_ = false;
      armedHint_.store(false, std::memory_order_relaxed);
      wake = waker_;
    }
  }
  if (wake) wake();
}

void CompletionQueue::popUpTo(size_t max, std::vector<Completion>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  while (max > 0 && !queue_.empty()) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
    max--;
  }
}

size_t CompletionQueue::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool CompletionQueue::arm() {
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
