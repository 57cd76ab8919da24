// Tests of the store's open errors that need a hostile filesystem: read-only directories and a
// corrupt OPTIONS file.
#include "store.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace dmon;
namespace fs = std::filesystem;

namespace {

struct temp_dir : dmon::test::temp_dir {
  temp_dir() : dmon::test::temp_dir("dmon-store-errors") {}
};

event make(std::string host) {
  event e;
  e.host = std::move(host);
  e.service = "s";
  e.time_us = 0;
  e.ttl = 1e6;
  return e;
}

store_options options(const fs::path& dir) {
  store_options o;
  o.path = dir.string();
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  return o;
}

/// Opens a store at `dir` as a user that may not write there, and returns the
/// open's error message ("" when it opened). Root ignores file modes, so as root
/// the open runs in a child process that first becomes `nobody`.
std::string open_without_write_permission(const fs::path& dir) {
  auto open = [&]() -> std::string {
    auto s = store::open(options(dir));
    return s ? std::string{} : s.error().message;
  };
  if (geteuid() != 0)
    return open();
  int fds[2];
  if (pipe(fds) != 0)
    return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string msg = "could not drop privileges";
    if (setgid(65534) == 0 && setuid(65534) == 0)
      msg = open();
    msg = msg.empty() ? "<opened>" : msg;
    [[maybe_unused]] auto n = write(fds[1], msg.data(), msg.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out == "<opened>" ? std::string{} : out;
}

}  // namespace

TEST(store_errors, a_read_only_parent_directory_fails_and_names_the_path_and_the_fix) {
  temp_dir d;
  // World-traversable (so `nobody` reaches it) but not writable.
  fs::permissions(d.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  auto data = d.path / "data";
  auto msg = open_without_write_permission(data);
  ASSERT_FALSE(msg.empty()) << "opened a store in a directory it cannot write";
  EXPECT_NE(msg.find("cannot create data directory"), std::string::npos) << msg;
  EXPECT_NE(msg.find(data.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("--data-dir"), std::string::npos) << msg;
}

TEST(store_errors, an_existing_database_made_read_only_fails_with_rocksdbs_reason) {
  temp_dir d;
  fs::permissions(d.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  auto data = d.path / "data";
  {
    auto s = store::open(options(data));
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE((*s)->apply(std::vector<event>{make("a")}));
  }
  for (auto& p : fs::recursive_directory_iterator(data)) {
    auto mode = p.is_directory() ? fs::perms::owner_read | fs::perms::owner_exec |
                                       fs::perms::others_read | fs::perms::others_exec
                                 : fs::perms::owner_read | fs::perms::others_read;
    fs::permissions(p.path(), mode);
  }
  fs::permissions(data, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                            fs::perms::others_exec);
  auto msg = open_without_write_permission(data);
  ASSERT_FALSE(msg.empty()) << "opened a database it cannot write for writing";
  EXPECT_NE(msg.find("cannot open the database in '" + (data / "db").string() + "'"),
            std::string::npos)
      << msg;
  // RocksDB's own reason follows, e.g. "IO error: While open a file for ... Permission denied".
  EXPECT_NE(msg.find("ermission denied"), std::string::npos) << msg;
}

TEST(store_errors, a_corrupt_options_file_does_not_lose_the_data) {
  // RocksDB writes an OPTIONS-N file for tools at every open but never reads it back in
  // DB::Open (the store passes its options explicitly), so garbage there must neither stop
  // the node nor cost an entry, and the next open writes a fresh one.
  temp_dir d;
  auto data = d.path / "data";
  {
    auto s = store::open(options(data));
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE((*s)->apply(std::vector<event>{make("a"), make("b")}));
  }
  int corrupted = 0;
  for (auto& p : fs::directory_iterator(data / "db"))
    if (p.path().filename().string().starts_with("OPTIONS-")) {
      std::ofstream{p.path(), std::ios::trunc} << "[Version]\n\x01\x02 not an options file {{{";
      ++corrupted;
    }
  ASSERT_GT(corrupted, 0);
  auto s = store::open(options(data));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->size(), 2u);
  EXPECT_TRUE((*s)->lookup({"a", "s"}));
  ASSERT_TRUE((*s)->apply(std::vector<event>{make("c")}));
}
