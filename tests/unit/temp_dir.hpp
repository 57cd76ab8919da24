// dmon::test::temp_dir: a fresh directory for one test's store, removed with everything in it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace dmon::test {

/// A new directory under the system temp dir, named after `name`. Removed at the end even
/// where a test took its permissions away (store error tests make it read-only).
struct temp_dir {
  std::filesystem::path path;

  explicit temp_dir(const std::string& name) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (name + "-XXXXXX")).string();
    path = mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    namespace fs = std::filesystem;
    std::error_code ignored;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ignored);
    for (auto& p : fs::recursive_directory_iterator(path, ignored))
      fs::permissions(p.path(), fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace dmon::test
