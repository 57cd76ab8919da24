// Tests of the reaper's keep-keys rule: which fields an "expired" notice carries from the expired
// entry.
#include "reaper_actor.hpp"

#include <gtest/gtest.h>

using namespace dmon;

namespace {

event full_entry() {
  event e;
  e.host = "web-1";
  e.service = "cpu";
  e.state = "critical";
  e.description = "load high";
  e.metric = 0.93;
  e.time_us = 1'000'000;
  e.ttl = 10;
  e.tags = {"prod", "web"};
  e.attributes = {{"team", "ops"}, {"dc", "ams"}};
  return e;
}

constexpr int64_t now = 99'000'000;

}  // namespace

TEST(keep_keys, the_default_keeps_host_and_service_and_sets_state_and_time) {
  auto n = keep_keys{"host,service"}.notice(full_entry(), now);
  event want;
  want.host = "web-1";
  want.service = "cpu";
  want.state = "expired";
  want.time_us = now;
  EXPECT_EQ(n, want);
}

TEST(keep_keys, all_keeps_every_field_but_state_and_time) {
  auto n = keep_keys{"all"}.notice(full_entry(), now);
  auto want = full_entry();
  want.state = "expired";
  want.time_us = now;
  EXPECT_EQ(n, want);
}

TEST(keep_keys, each_core_field_and_custom_attributes_can_be_kept_and_spaces_are_ignored) {
  auto n = keep_keys{" host , description,metric, ttl ,tags,dc,,"}.notice(full_entry(), now);
  EXPECT_EQ(n.host, "web-1");
  EXPECT_FALSE(n.service);
  EXPECT_EQ(n.description, "load high");
  EXPECT_EQ(n.metric, metric_value{0.93});
  EXPECT_EQ(n.ttl, 10.0);
  EXPECT_EQ(n.tags, (std::vector<std::string>{"prod", "web"}));
  ASSERT_EQ(n.attributes.size(), 1u);
  EXPECT_EQ(n.attributes[0].key, "dc");
  EXPECT_EQ(n.attributes[0].value, "ams");
}

TEST(keep_keys, state_and_time_are_always_the_notices_own_even_when_listed) {
  auto n = keep_keys{"host,state,time"}.notice(full_entry(), now);
  EXPECT_EQ(n.state, "expired");
  EXPECT_EQ(n.time_us, now);
  EXPECT_EQ(n.host, "web-1");
}

TEST(keep_keys, fields_the_entry_lacks_stay_absent) {
  event bare;
  bare.service = "disk";
  auto n = keep_keys{"host,service,team,metric"}.notice(bare, now);
  EXPECT_FALSE(n.host);
  EXPECT_EQ(n.service, "disk");
  EXPECT_TRUE(n.attributes.empty());
  EXPECT_FALSE(n.has_metric());
}

TEST(keep_keys, an_empty_spec_keeps_nothing_but_the_notice_itself) {
  auto n = keep_keys{""}.notice(full_entry(), now);
  EXPECT_FALSE(n.host);
  EXPECT_FALSE(n.service);
  EXPECT_EQ(n.state, "expired");
  EXPECT_EQ(n.time_us, now);
}
