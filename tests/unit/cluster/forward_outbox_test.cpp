// forward_outbox: per-peer coalescing of forwards, bounded by open forwards and batch size.
#include "forward_outbox.hpp"

#include <gtest/gtest.h>

namespace {

std::vector<dmon::event> events(int from, int count) {
  std::vector<dmon::event> out;
  for (int i = from; i < from + count; ++i) {
    dmon::event e;
    e.metric = int64_t{i};
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<int64_t> metrics(const std::vector<dmon::event>& es) {
  std::vector<int64_t> out;
  for (auto& e : es)
    out.push_back(static_cast<int64_t>(*e.metric_as_double()));
  return out;
}

}  // namespace

TEST(forward_outbox, first_batch_goes_at_once_later_ones_wait_for_the_answer) {
  dmon::forward_outbox<int> box{1, 100};
  EXPECT_FALSE(box.next("b")) << "nothing queued";
  box.add("b", events(0, 2), 1);
  auto first = box.next("b");
  ASSERT_TRUE(first);
  EXPECT_EQ(metrics(first->events), (std::vector<int64_t>{0, 1}));
  ASSERT_EQ(first->waiting.size(), 1u);
  EXPECT_EQ(first->waiting[0], (std::pair<int, size_t>{1, 2}));
  EXPECT_EQ(box.in_flight("b"), 1u);

  box.add("b", events(2, 3), 2);
  box.add("b", events(5, 1), 3);
  EXPECT_FALSE(box.next("b")) << "one forward open: the others coalesce";
  EXPECT_EQ(box.queued("b"), 4u);
  EXPECT_EQ(box.waiting_peers(), (std::vector<std::string>{"b"}));

  box.done("b");
  auto second = box.next("b");
  ASSERT_TRUE(second);
  EXPECT_EQ(metrics(second->events), (std::vector<int64_t>{2, 3, 4, 5})) << "in order, one batch";
  EXPECT_EQ(second->waiting, (std::vector<std::pair<int, size_t>>{{2, 3}, {3, 1}}));
  EXPECT_FALSE(box.next("b"));
  box.done("b");
  EXPECT_EQ(box.in_flight("b"), 0u);
  EXPECT_TRUE(box.waiting_peers().empty());
}

TEST(forward_outbox, peers_are_independent) {
  dmon::forward_outbox<int> box{1, 100};
  box.add("b", events(0, 1), 1);
  ASSERT_TRUE(box.next("b"));
  box.add("c", events(1, 1), 2);
  EXPECT_TRUE(box.next("c")) << "an open forward to b does not hold back c";
}

TEST(forward_outbox, a_full_queue_goes_without_waiting) {
  dmon::forward_outbox<int> box{1, 4};
  box.add("b", events(0, 1), 1);
  ASSERT_TRUE(box.next("b"));
  box.add("b", events(1, 3), 2);
  EXPECT_FALSE(box.next("b"));
  box.add("b", events(4, 1), 3);
  auto full = box.next("b");
  ASSERT_TRUE(full) << "4 queued reaches the batch size";
  EXPECT_EQ(full->events.size(), 4u);
  EXPECT_EQ(box.in_flight("b"), 2u);
}

TEST(forward_outbox, more_open_forwards_when_allowed) {
  dmon::forward_outbox<int> box{2, 100};
  box.add("b", events(0, 1), 1);
  ASSERT_TRUE(box.next("b"));
  box.add("b", events(1, 1), 2);
  ASSERT_TRUE(box.next("b"));
  box.add("b", events(2, 1), 3);
  EXPECT_FALSE(box.next("b"));
}

TEST(forward_outbox, take_hands_back_the_queue_of_a_departed_peer) {
  dmon::forward_outbox<int> box{1, 100};
  box.add("b", events(0, 1), 1);
  ASSERT_TRUE(box.next("b"));
  box.add("b", events(1, 2), 2);
  auto left = box.take("b");
  EXPECT_EQ(metrics(left.events), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(left.waiting, (std::vector<std::pair<int, size_t>>{{2, 2}}));
  EXPECT_EQ(box.queued("b"), 0u);
  EXPECT_TRUE(box.take("nobody").events.empty());
  box.done("b");
  EXPECT_FALSE(box.next("b"));
}
