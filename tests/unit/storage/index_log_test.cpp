// Tests of the index log: framing, replay, torn tails, corruption, rotation, faults, CRC-32C.
#include "index_log.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "crc32c.hpp"
#include "temp_dir.hpp"

using namespace dmon;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out << bytes;
}

class index_log_test : public ::testing::Test {
 protected:
  index_log_options options() {
    index_log_options o;
    o.dir = (dir_.path / "log").string();
    o.fault = fault_;
    return o;
  }

  // Opens the log, collecting every replayed payload into `replayed`.
  std::unique_ptr<index_log> open(index_log_options o, index_log::replay_report* report = nullptr) {
    replayed.clear();
    index_log::replay_report local;
    auto log = index_log::open(
        std::move(o),
        [this](std::string_view p) -> status {
          replayed.emplace_back(p);
          return std::monostate{};
        },
        report ? *report : local);
    EXPECT_TRUE(log) << log.error().message;
    return log ? std::move(*log) : nullptr;
  }
  std::unique_ptr<index_log> open() { return open(options()); }

  std::vector<fs::path> segments() const {
    std::vector<fs::path> out;
    for (auto& e : fs::directory_iterator(dir_.path / "log"))
      out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }

  dmon::test::temp_dir dir_{"dmon-index-log-test"};
  std::shared_ptr<write_fault> fault_ = std::make_shared<write_fault>();
  std::vector<std::string> replayed;
};

}  // namespace

TEST(crc32c, matches_the_standard_check_value_and_the_table_version) {
  EXPECT_EQ(crc32c(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(0, "123456789"), 0xE3069283u);
  std::string bytes;
  for (int i = 0; i < 1000; ++i) {
    bytes.push_back(static_cast<char>(i * 7));
    ASSERT_EQ(crc32c(0, bytes), crc32c_portable(0, bytes)) << i;
  }
  // Extending a CRC equals the CRC of the concatenation.
  EXPECT_EQ(crc32c(crc32c(0, "1234"), "56789"), 0xE3069283u);
}

TEST_F(index_log_test, records_come_back_in_order_after_a_reopen) {
  {
    auto log = open();
    ASSERT_TRUE(log);
    EXPECT_TRUE(replayed.empty());
    ASSERT_TRUE(log->append("first"));
    ASSERT_TRUE(log->append(std::string(100000, 'x')));
    auto& p = log->payload();
    p += "third";
    ASSERT_TRUE(log->append());
    EXPECT_EQ(log->bytes(), 3 * 8 + 5 + 100000 + 5u);
  }
  index_log::replay_report report;
  auto log = open(options(), &report);
  ASSERT_EQ(replayed.size(), 3u);
  EXPECT_EQ(replayed[0], "first");
  EXPECT_EQ(replayed[1], std::string(100000, 'x'));
  EXPECT_EQ(replayed[2], "third");
  EXPECT_EQ(report.records, 3u);
  EXPECT_TRUE(report.warnings.empty());
}

TEST_F(index_log_test, entries_round_trip_through_a_payload) {
  event e;
  e.host = "h";
  e.service = std::nullopt;
  e.metric = 1.5;
  std::string payload;
  index_log::add_put(payload, e);
  index_log::add_erase(payload, "key\0bytes");
  std::vector<std::pair<bool, std::string>> got;
  ASSERT_TRUE(index_log::read_entries(payload, [&](bool erase, std::string_view b) -> status {
    got.emplace_back(erase, std::string{b});
    return std::monostate{};
  }));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].first);
  EXPECT_TRUE(got[1].first);
  EXPECT_EQ(got[1].second, "key");
  EXPECT_FALSE(
      index_log::read_entries(payload.substr(0, payload.size() - 1),
                              [](bool, std::string_view) -> status { return std::monostate{}; }));
}

TEST_F(index_log_test, a_torn_last_record_is_cut_at_every_byte_offset) {
  {
    auto log = open();
    ASSERT_TRUE(log->append("kept one"));
    ASSERT_TRUE(log->append("kept two"));
    ASSERT_TRUE(log->append("the torn one"));
  }
  auto path = segments().front();
  auto whole = read_all(path);
  auto last_start = whole.size() - (8 + std::string_view{"the torn one"}.size());
  for (size_t cut = last_start; cut < whole.size(); ++cut) {
    // The crash left `cut` bytes; a fresh directory each time so no segment from an
    // earlier round is replayed.
    fs::remove_all(dir_.path / "log");
    fs::create_directories(dir_.path / "log");
    write_all(path, whole.substr(0, cut));
    index_log::replay_report report;
    {
      auto log = open(options(), &report);
      ASSERT_TRUE(log);
      ASSERT_EQ(replayed.size(), 2u) << "cut at " << cut;
      EXPECT_EQ(replayed[1], "kept two");
      if (cut == last_start) {
        EXPECT_TRUE(report.warnings.empty()) << "a clean end is no damage";
      } else {
        ASSERT_EQ(report.warnings.size(), 1u) << cut;
        EXPECT_NE(report.warnings[0].find(path.string()), std::string::npos) << report.warnings[0];
        EXPECT_NE(report.warnings[0].find("offset " + std::to_string(last_start)),
                  std::string::npos)
            << report.warnings[0];
      }
      EXPECT_EQ(fs::file_size(path), last_start) << "the torn bytes are cut off";
      // Later appends replay after the records kept.
      ASSERT_TRUE(log->append("after"));
    }
    open();
    ASSERT_EQ(replayed.size(), 3u) << cut;
    EXPECT_EQ(replayed[2], "after");
  }
}

TEST_F(index_log_test, a_checksum_mismatch_stops_the_replay_there_and_says_what_was_dropped) {
  {
    auto log = open();
    for (auto p : {"one", "two", "three", "four"})
      ASSERT_TRUE(log->append(p));
  }
  auto path = segments().front();
  auto bytes = read_all(path);
  // Flip a payload byte of the second record ("two" starts at 11 + 8).
  bytes[11 + 8] ^= 0x20;
  write_all(path, bytes);
  index_log::replay_report report;
  auto log = open(options(), &report);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0], "one");
  ASSERT_EQ(report.warnings.size(), 1u);
  auto& w = report.warnings[0];
  EXPECT_NE(w.find("checksum mismatch at offset 11"), std::string::npos) << w;
  EXPECT_NE(w.find("(3 records by their lengths)"), std::string::npos) << w;
  EXPECT_EQ(fs::file_size(path), 11u);
}

TEST_F(index_log_test, segments_replay_in_order_until_dropped_as_after_a_crash_mid_checkpoint) {
  uint64_t sealed = 0;
  {
    auto log = open();
    ASSERT_TRUE(log->append("a1"));
    auto r = log->rotate();
    ASSERT_TRUE(r);
    sealed = *r;
    ASSERT_TRUE(log->append("b1"));
    ASSERT_TRUE(log->append("b2"));
    EXPECT_EQ(log->bytes(), 3 * 10u);
    // A crash here: the checkpoint wrote elsewhere but did not drop the sealed segment.
  }
  {
    auto log = open();
    EXPECT_EQ(replayed, (std::vector<std::string>{"a1", "b1", "b2"}));
    ASSERT_TRUE(log->append("c1"));
    // Replayed segments stay live (sealed) until dropped.
    EXPECT_EQ(log->bytes(), 4 * 10u);
    ASSERT_TRUE(log->drop_through(sealed));
    EXPECT_EQ(log->bytes(), 3 * 10u);
  }
  {
    auto log = open();
    EXPECT_EQ(replayed, (std::vector<std::string>{"b1", "b2", "c1"}));
    ASSERT_TRUE(log->drop_through(log->current_segment() - 1));
    EXPECT_EQ(log->bytes(), 0u);
    EXPECT_EQ(segments().size(), 1u) << "only the current, empty segment";
  }
  open();
  EXPECT_TRUE(replayed.empty());
}

TEST_F(index_log_test, a_failed_append_leaves_the_log_as_it_was_and_later_appends_work) {
  auto log = open();
  ASSERT_TRUE(log->append("before"));
  auto size = log->bytes();
  fault_->fail = true;
  auto r = log->append("lost");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ec::storage_failure);
  EXPECT_NE(r.error().message.find("No space left on device"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find(options().dir), std::string::npos) << r.error().message;
  EXPECT_EQ(log->bytes(), size);
  EXPECT_EQ(fs::file_size(segments().back()), size);
  fault_->fail = false;
  ASSERT_TRUE(log->append("after"));
  log.reset();
  open();
  EXPECT_EQ(replayed, (std::vector<std::string>{"before", "after"}));
}

TEST_F(index_log_test, a_read_only_open_replays_without_cutting_or_creating_anything) {
  {
    auto log = open();
    ASSERT_TRUE(log->append("one"));
    ASSERT_TRUE(log->append("two"));
  }
  auto path = segments().back();
  auto bytes = read_all(path);
  write_all(path, bytes + "torn");
  auto before = segments();
  auto o = options();
  o.read_only = true;
  index_log::replay_report report;
  auto log = open(o, &report);
  ASSERT_TRUE(log);
  EXPECT_EQ(replayed, (std::vector<std::string>{"one", "two"}));
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_EQ(read_all(path), bytes + "torn") << "a reader changes nothing";
  EXPECT_EQ(segments(), before);
  auto r = log->append("no");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("read only"), std::string::npos) << r.error().message;
}
