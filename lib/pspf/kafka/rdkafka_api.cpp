#include "pspf/kafka/rdkafka_api.h"

#include <dlfcn.h>

#include <fmt/format.h>

#include "pspf/error.h"

namespace pspf::kafka {
namespace {

RdKafka load() {
  void* lib = ::dlopen("librdkafka.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    throw Error(Errc::usage,
                fmt::format("-b needs librdkafka 2.0 or later (Debian: apt-get install "
                            "librdkafka1): {}",
                            ::dlerror()));
  RdKafka k;
#define PSPF_RDKAFKA_LOAD(f)                                \
  k.f = reinterpret_cast<decltype(&::f)>(::dlsym(lib, #f)); \
  if (!k.f)                                                 \
    throw Error(Errc::usage, "-b needs librdkafka 2.0 or later: librdkafka.so.1 has no " #f);
  PSPF_RDKAFKA_FUNCTIONS(PSPF_RDKAFKA_LOAD)
#undef PSPF_RDKAFKA_LOAD
  return k;  // the library stays loaded for the life of the process
}

}  // namespace

const RdKafka& rdkafka() {
  static const RdKafka k = load();
  return k;
}

}  // namespace pspf::kafka
