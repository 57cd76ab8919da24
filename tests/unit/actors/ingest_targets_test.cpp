// after_keeper_flush: the owned parts of a clustered batch answer the whole batch once, at once
// when the keeper has nothing to send; failures pass through. (The keeper round trip itself is
// covered by tests/integration/test_cluster_ingest.py.)
#include "ingest_targets.hpp"

#include <gtest/gtest.h>

using namespace dmon;

namespace {

struct outcome {
  int calls = 0;
  uint64_t events = 0;
  std::string error;
};

ingest_ticket make(size_t parts, outcome& out) {
  return std::make_shared<ingest_waiter>(parts, [&out](uint64_t events, std::string error) {
    ++out.calls;
    out.events = events;
    out.error = std::move(error);
  });
}

}  // namespace

TEST(after_keeper_flush, idle_outbox_answers_the_whole_batch_when_the_owned_parts_ran) {
  cluster_link link{100, 2};
  outcome out;
  // The whole batch: the node's own parts (one) and one other owner's part.
  auto whole = make(2, out);
  auto local = after_keeper_flush(&link, whole, 2);
  local->done(10);
  local->done(5);
  EXPECT_EQ(out.calls, 0) << "the other owner has not answered";
  whole->done(7);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.events, 22u);
  EXPECT_TRUE(out.error.empty());
}

TEST(after_keeper_flush, a_failed_part_fails_the_whole_batch) {
  cluster_link link{100, 2};
  outcome out;
  auto whole = make(1, out);
  auto local = after_keeper_flush(&link, whole, 2);
  whole.reset();
  local->done(3);
  local->failed("shard 1 failed: boom");
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.error, "shard 1 failed: boom");
}

TEST(after_keeper_flush, without_a_keeper_queued_writes_do_not_hold_the_answer) {
  // A node that never joined a cluster has no keeper: nothing would ever send the outbox.
  cluster_link link{100, 2};
  ASSERT_TRUE(link.outbox.push_replicate(event{}));
  ASSERT_FALSE(link.outbox.idle());
  outcome out;
  auto local = after_keeper_flush(&link, make(1, out), 1);
  local->done(4);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.events, 4u);
}
