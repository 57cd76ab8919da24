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
