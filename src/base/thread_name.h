// Named threads, for `top -H`, `ps -T`, perf and gdb. Linux keeps 15 bytes of a name; the rest is
// cut, so put what tells threads apart first.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace etcdpp {

inline void NameThisThread(std::string_view name) {
  std::string shown(name.substr(0, 15));
  pthread_setname_np(pthread_self(), shown.c_str());
}

// std::thread running fn() under `name`.
template <typename Fn>
std::thread NamedThread(std::string name, Fn&& fn) {
  return std::thread([name = std::move(name), fn = std::forward<Fn>(fn)]() mutable {
    NameThisThread(name);
    fn();
  });
}

}  // namespace etcdpp
