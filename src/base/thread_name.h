// Names the calling thread for `top -H`, `ps -T`, perf and gdb. Linux keeps 15 bytes of a name;
// the rest is cut, so put what tells threads apart first.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace etcdpp {

inline void NameThisThread(std::string_view name) {
  std::string shown(name.substr(0, 15));
  pthread_setname_np(pthread_self(), shown.c_str());
}

}  // namespace etcdpp
