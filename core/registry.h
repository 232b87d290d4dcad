// Named entries that can be added at run time, listed in registration order (built-ins
// first): the registries of fixed-point solvers and spatial proxes.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dequnmix {

template <class Entry>
class NamedRegistry {
 public:
  explicit NamedRegistry(std::vector<std::pair<std::string, Entry>> builtins)
      : entries_(std::move(builtins)) {}

  // Adds `entry` under `name`, or replaces the entry of that name.
  void add(const std::string& name, Entry entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& e : entries_)
      if (e.first == name) {
        e.second = std::move(entry);
        return;
      }
    entries_.emplace_back(name, std::move(entry));
  }

  // The entry of `name`, or an empty Entry when there is none.
  Entry find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : entries_)
      if (e.first == name) return e.second;
    return {};
  }

  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.first);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Entry>> entries_;
};

}  // namespace dequnmix
