// config: the leave and index-write knobs come from flags, DMON_* variables, or their defaults.
#include "config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace dmon;

namespace {

result<config> parse(std::vector<std::string> args, std::string& help) {
  args.insert(args.begin(), "dmond");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return parse_config(static_cast<int>(argv.size()), argv.data(), help);
}

}  // namespace

TEST(config, leave_settle_and_deadline_default_to_1_and_25_seconds) {
  std::string help;
  auto c = parse({}, help);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->leave_settle, 1.0);
  EXPECT_EQ(c->leave_deadline, 25.0);
}

TEST(config, leave_knobs_come_from_flags_and_the_environment) {
  std::string help;
  auto c = parse({"--leave-settle", "0.5", "--leave-deadline", "40"}, help);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->leave_settle, 0.5);
  EXPECT_EQ(c->leave_deadline, 40.0);
  ::setenv("DMON_LEAVE_DEADLINE", "12", 1);
  c = parse({}, help);
  ::unsetenv("DMON_LEAVE_DEADLINE");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->leave_deadline, 12.0);
}

TEST(config, a_negative_leave_deadline_is_refused_naming_the_flag) {
  std::string help;
  auto c = parse({"--leave-deadline", "-1"}, help);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("leave-deadline"), std::string::npos) << c.error().message;
}

TEST(config, index_write_knobs_default_to_inline_writes_and_2_s_checkpoints) {
  std::string help;
  auto c = parse({}, help);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->inline_writes);
  EXPECT_EQ(c->index_checkpoint_interval, 2.0);
  c = parse({"--inline-writes", "false", "--index-checkpoint-interval", "30"}, help);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->inline_writes);
  EXPECT_EQ(c->index_checkpoint_interval, 30.0);
}

TEST(config, a_zero_index_checkpoint_interval_is_refused_naming_the_flag) {
  std::string help;
  auto c = parse({"--index-checkpoint-interval", "0"}, help);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("index-checkpoint-interval"), std::string::npos)
      << c.error().message;
}
