// batch_writer: a shard's own writes reach a real store coalesced, are counted and published,
// and a refused write changes nothing, is counted as failed and names the store's reason.
#include "batch_writer.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

using namespace dmon;

namespace {

event make(std::string host, std::string service, double metric) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  e.metric = metric;
  e.time_us = 1'000'000;
  e.ttl = 60;
  return e;
}

// An index write as the shard's sink makes it: the event with its key's hash.
keyed_event write_of(std::string host, std::string service, double metric) {
  auto e = make(std::move(host), std::move(service), metric);
  auto hash = index_key::hash(e);
  return {hash, std::move(e)};
}

class batch_writer_test : public ::testing::Test {
 protected:
  void SetUp() override {
    store_options o;
    o.path = (dir_.path / "data").string();
    o.block_cache_bytes = 1 << 20;
    o.write_buffer_bytes = 1 << 20;
    o.fault = fault_;
    auto s = store::open(std::move(o));
    ASSERT_TRUE(s) << s.error().message;
    db_ = std::move(*s);
    ctx_.db = db_.get();
    ctx_.hub = &hub_;
    ctx_.write_latency = &latency_;
  }

  std::optional<double> metric_of(const std::string& host) {
    auto e = db_->lookup({host, "cpu"});
    if (!e)
      return std::nullopt;
    return std::get<double>(e->metric);
  }

  dmon::test::temp_dir dir_{"dmon-batch-writer"};
  std::shared_ptr<write_fault> fault_ = std::make_shared<write_fault>();
  std::unique_ptr<store> db_;
  pubsub hub_;
  latency_histogram latency_;
  shard_counters counters_;
  storage_context ctx_;
};

}  // namespace

TEST_F(batch_writer_test, writes_the_latest_event_per_key_and_empties_the_buffers) {
  batch_writer writer{ctx_, counters_};
  std::vector<keyed_event> index{write_of("a", "cpu", 1), write_of("b", "cpu", 2),
                                 write_of("a", "cpu", 3)};
  std::vector<event> history{make("a", "cpu", 1)};
  auto failed = writer.write(index, history);
  ASSERT_FALSE(failed) << *failed;
  EXPECT_TRUE(index.empty());
  EXPECT_TRUE(history.empty());
  EXPECT_EQ(metric_of("a"), 3.0);
  EXPECT_EQ(metric_of("b"), 2.0);
  EXPECT_EQ(counters_.indexed.load(), 3u);
  EXPECT_EQ(counters_.index_failures.load(), 0u);

  // The buffers are reused for the next batch.
  index.push_back(write_of("a", "cpu", 4));
  ASSERT_FALSE(writer.write(index, history));
  EXPECT_EQ(metric_of("a"), 4.0);
}

TEST_F(batch_writer_test, a_refused_write_changes_nothing_and_names_the_reason) {
  batch_writer writer{ctx_, counters_};
  std::vector<keyed_event> index{write_of("a", "cpu", 1)};
  std::vector<event> history;
  ASSERT_FALSE(writer.write(index, history));

  fault_->fail = true;
  index = {write_of("a", "cpu", 2), write_of("b", "cpu", 2)};
  auto failed = writer.write(index, history);
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->find("storage failed"), std::string::npos) << *failed;
  EXPECT_NE(failed->find("No space left on device"), std::string::npos) << *failed;
  EXPECT_EQ(metric_of("a"), 1.0);
  EXPECT_FALSE(metric_of("b"));
  EXPECT_EQ(counters_.index_failures.load(), 2u);

  // Once the disk has room again, the next batch is written.
  fault_->fail = false;
  index = {write_of("b", "cpu", 3)};
  ASSERT_FALSE(writer.write(index, history));
  EXPECT_EQ(metric_of("b"), 3.0);
}

TEST_F(batch_writer_test, subscribers_see_every_index_write_only_once_it_is_written) {
  std::vector<double> seen;
  hub_.subscribe("index", std::nullopt,
                 [&](const event& e) { seen.push_back(std::get<double>(e.metric)); });
  batch_writer writer{ctx_, counters_};
  std::vector<keyed_event> index{write_of("a", "cpu", 1), write_of("a", "cpu", 2)};
  std::vector<event> history;
  ASSERT_FALSE(writer.write(index, history));
  EXPECT_EQ(seen, (std::vector<double>{1, 2}));

  fault_->fail = true;
  index = {write_of("a", "cpu", 5)};
  ASSERT_TRUE(writer.write(index, history));
  EXPECT_EQ(seen.size(), 2u);
}
