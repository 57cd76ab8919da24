// write_outbox: bounded, ordered, counts what it refuses.
#include "write_outbox.hpp"

#include <gtest/gtest.h>

TEST(write_outbox, keeps_order_and_refuses_past_capacity) {
  dmon::write_outbox box{3};
  for (int i = 0; i < 5; ++i) {
    dmon::event e;
    e.metric = static_cast<double>(i);
    bool ok = i % 2 ? box.push_foreign(e) : box.push_replicate(e);
    EXPECT_EQ(ok, i < 3);
  }
  EXPECT_EQ(box.dropped(), 2u);
  auto c = box.take();
  ASSERT_EQ(c.replicate.size(), 2u);
  ASSERT_EQ(c.foreign.size(), 1u);
  EXPECT_EQ(*c.replicate[0].metric_as_double(), 0);
  EXPECT_EQ(*c.replicate[1].metric_as_double(), 2);
  EXPECT_TRUE(box.empty());
  EXPECT_TRUE(box.push_replicate(dmon::event{})) << "room again after take";
}

TEST(write_outbox, idle_only_once_every_take_is_settled) {
  dmon::write_outbox box{10};
  EXPECT_TRUE(box.idle());
  (void)box.take();
  EXPECT_TRUE(box.idle()) << "an empty take leaves nothing to settle";
  box.push_replicate(dmon::event{});
  EXPECT_FALSE(box.idle()) << "queued";
  (void)box.take();
  EXPECT_TRUE(box.empty());
  EXPECT_FALSE(box.idle()) << "taken but not yet sent on";
  box.push_foreign(dmon::event{});
  (void)box.take();
  box.settled();
  EXPECT_FALSE(box.idle()) << "one of two takes still on its way";
  box.settled();
  EXPECT_TRUE(box.idle());
  box.settled();
  EXPECT_TRUE(box.idle()) << "an extra settle does not go below zero";
  box.push_replicate(dmon::event{});
  EXPECT_FALSE(box.idle());
}
