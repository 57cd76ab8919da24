// ingest_waiter: a batch's parts counted down to one answer, the first failure deciding it, and
// a part dropped unanswered failing the batch when the last reference goes.
#include "ingest_ticket.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

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

TEST(ingest_ticket, answers_once_when_every_part_is_done) {
  outcome out;
  auto t = make(3, out);
  t->done(10);
  t->done(20);
  EXPECT_EQ(out.calls, 0);
  t->done(5);
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.events, 35u);
  EXPECT_TRUE(out.error.empty());
  t.reset();  // no second answer from the destructor
  EXPECT_EQ(out.calls, 1);
}

TEST(ingest_ticket, the_first_failure_answers_at_once_and_the_rest_is_ignored) {
  outcome out;
  auto t = make(3, out);
  t->done(10);
  t->failed("the store refused");
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.error, "the store refused");
  t->done(1);
  t->failed("later");
  t.reset();
  EXPECT_EQ(out.calls, 1);
  EXPECT_EQ(out.error, "the store refused");
}

TEST(ingest_ticket, a_part_dropped_unanswered_fails_the_batch_when_the_last_reference_goes) {
  outcome out;
  auto t = make(2, out);
  auto dropped = t;  // a message to an actor that stopped
  t->done(4);
  t.reset();
  EXPECT_EQ(out.calls, 0);
  dropped.reset();
  EXPECT_EQ(out.calls, 1);
  EXPECT_NE(out.error.find("stream shard stopped"), std::string::npos) << out.error;
}

TEST(ingest_ticket, parts_answered_from_many_threads_answer_once) {
  for (int round = 0; round < 20; ++round) {
    outcome out;
    constexpr size_t parts = 8;
    auto t = make(parts, out);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < parts; ++i)
      threads.emplace_back([t] { t->done(1); });
    t.reset();
    for (auto& th : threads)
      th.join();
    EXPECT_EQ(out.calls, 1);
    EXPECT_EQ(out.events, parts);
    EXPECT_TRUE(out.error.empty());
  }
}
