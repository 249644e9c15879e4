// latency_probe: reads JSON lines that carry {"t": <send time, epoch microseconds>}
// on stdin (as a following pspf-consume prints them), and when N lines have come
// (or stdin ends) prints the count and the median, p90, p99 and maximum latency in
// microseconds. Part of tests/bench/latency.sh; not installed.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  long want = argc > 1 ? std::atol(argv[1]) : 1000;
  std::vector<long> lat;
  char line[4096];
  while (static_cast<long>(lat.size()) < want && std::fgets(line, sizeof line, stdin)) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char* t = std::strstr(line, "\"t\":");
    if (!t) continue;
    long sent = std::atol(t + 4);
    lat.push_back(now.tv_sec * 1000000L + now.tv_nsec / 1000 - sent);
  }
  if (lat.empty()) return 1;
  std::sort(lat.begin(), lat.end());
  auto at = [&](double q) { return lat[static_cast<size_t>(q * (lat.size() - 1))]; };
  std::printf("%zu %ld %ld %ld %ld\n", lat.size(), at(0.5), at(0.9), at(0.99), lat.back());
  return 0;
}
