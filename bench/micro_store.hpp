// A fresh RocksDB store in a temp dir and the process's CPU clock, for the storage
// micro-benchmarks.
#pragma once

#include <unistd.h>
#include <ctime>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "store.hpp"

namespace dmon::bench {

/// A store opened on a new temp dir (named after `name`), removed when this goes.
struct temp_store {
  std::string dir;
  std::unique_ptr<store> db;

  explicit temp_store(const std::string& name) {
    auto tmpl = (std::filesystem::temp_directory_path() / (name + ".XXXXXX")).string();
    if (!mkdtemp(tmpl.data()))
      std::abort();
    dir = tmpl;
    store_options o;
    o.path = dir;
    auto s = store::open(o);
    if (!s)
      std::abort();
    db = std::move(*s);
  }
  ~temp_store() {
    db.reset();
    std::filesystem::remove_all(dir);
  }
  temp_store(const temp_store&) = delete;
  temp_store& operator=(const temp_store&) = delete;
};

/// CPU time of the whole process (RocksDB's flush and compaction threads included), in ns.
inline double process_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

}  // namespace dmon::bench
