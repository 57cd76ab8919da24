// storage actor: a real store under a real actor system; commit groups answer after the write,
// coalesce across batches, and a failed commit fails exactly its group's writes.
#include "storage_actor.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <caf/all.hpp>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

using namespace dmon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Only a guard against hanging forever; nothing here is timed.
constexpr auto guard_timeout = 60s;

struct temp_dir : dmon::test::temp_dir {
  temp_dir() : dmon::test::temp_dir("dmon-storage-actor") {}
};

event make(std::string host, std::string service, double metric) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  e.metric = metric;
  e.time_us = 1'000'000;
  e.ttl = 60;
  return e;
}

// The answers to a list of writes: the event count, or the error text.
struct answers {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::optional<std::string>> errors;  // per write; nullopt until answered
  std::vector<uint64_t> counts;
  size_t done = 0;

  bool wait_all() {
    std::unique_lock lock{mtx};
    return cv.wait_for(lock, guard_timeout, [&] { return done == errors.size(); });
  }
};

// Sends `writes` (index events per write) in order from one actor, so they arrive in order,
// and records each answer; counts each write up in `unanswered` as a stream actor does.
std::shared_ptr<answers> write_all(caf::actor_system& sys, const storage_actor& storage,
                                   std::vector<std::vector<event>> writes,
                                   std::atomic<uint64_t>* unanswered = nullptr) {
  if (unanswered)
    unanswered->fetch_add(writes.size());
  auto out = std::make_shared<answers>();
  out->errors.resize(writes.size());
  out->counts.resize(writes.size());
  sys.spawn([=, writes = std::move(writes)](caf::event_based_actor* self) mutable {
    for (size_t i = 0; i < writes.size(); ++i) {
      auto n = static_cast<uint64_t>(10 + i);
      self->request(storage, caf::infinite, write_atom::value, int32_t{0}, std::move(writes[i]),
                    std::vector<event>{}, n)
          .then(
              [=](uint64_t count) {
                std::lock_guard lock{out->mtx};
                out->counts[i] = count;
                out->errors[i] = "";
                ++out->done;
                out->cv.notify_all();
              },
              [=](caf::error& err) {
                std::lock_guard lock{out->mtx};
                out->errors[i] = self->system().render(err);
                ++out->done;
                out->cv.notify_all();
              });
    }
  });
  return out;
}

class storage_actor_test : public ::testing::Test {
 protected:
  std::unique_ptr<store> open() {
    store_options o;
    o.path = (dir_.path / "data").string();
    o.block_cache_bytes = 1 << 20;
    o.write_buffer_bytes = 1 << 20;
    o.fault = fault_;
    auto s = store::open(std::move(o));
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  storage_actor spawn(caf::actor_system& sys, store& db, commit_settings settings) {
    storage_context ctx;
    ctx.db = &db;
    ctx.hub = &hub_;
    ctx.write_latency = &latency_;
    ctx.counters = {&counters_};
    ctx.unanswered = {&unanswered_};
    ctx.settings = settings;
    return sys.spawn<caf::detached>(storage, std::move(ctx));
  }

  temp_dir dir_;
  std::shared_ptr<write_fault> fault_ = std::make_shared<write_fault>();
  pubsub hub_;
  latency_histogram latency_;
  shard_counters counters_;
  std::atomic<uint64_t> unanswered_{0};
};

}  // namespace

TEST_F(storage_actor_test, every_write_is_answered_after_it_is_in_the_store) {
  auto db = open();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto storage_handle = spawn(sys, *db, {});
  auto got =
      write_all(sys, storage_handle,
                {{make("a", "x", 1)}, {}, {make("b", "x", 1), make("a", "x", 2)}}, &unanswered_);
  ASSERT_TRUE(got->wait_all());
  EXPECT_EQ(unanswered_.load(), 0u) << "every answered write is counted down";
  EXPECT_EQ(got->errors, (std::vector<std::optional<std::string>>{"", "", ""}));
  EXPECT_EQ(got->counts, (std::vector<uint64_t>{10, 11, 12}));
  // Answered means written: the index holds every write, the latest per key.
  EXPECT_EQ(db->lookup({"a", "x"})->metric, make("a", "x", 2).metric);
  EXPECT_TRUE(db->lookup({"b", "x"}));
  EXPECT_EQ(counters_.indexed.load(), 3u);
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
}

TEST_F(storage_actor_test, a_group_keeps_the_latest_event_per_key_across_batches) {
  auto db = open();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  // Only the size closes a group here: three writes, one group.
  auto storage_handle = spawn(sys, *db, {3, std::chrono::microseconds{std::chrono::hours{1}}});
  auto got = write_all(sys, storage_handle,
                       {{make("a", "x", 1)}, {make("a", "x", 2)}, {make("a", "x", 3)}});
  ASSERT_TRUE(got->wait_all());
  EXPECT_EQ(got->errors, (std::vector<std::optional<std::string>>{"", "", ""}));
  EXPECT_EQ(db->lookup({"a", "x"})->metric, make("a", "x", 3).metric);
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
}

TEST_F(storage_actor_test, a_failed_commit_fails_exactly_its_groups_writes_with_the_reason) {
  auto db = open();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  // Groups of two writes, closed by size only.
  auto storage_handle = spawn(sys, *db, {2, std::chrono::microseconds{std::chrono::hours{1}}});
  auto first =
      write_all(sys, storage_handle, {{make("a", "x", 1)}, {make("b", "x", 1)}}, &unanswered_);
  ASSERT_TRUE(first->wait_all());
  EXPECT_EQ(first->errors, (std::vector<std::optional<std::string>>{"", ""}));

  fault_->fail = true;
  auto second =
      write_all(sys, storage_handle, {{make("c", "x", 1)}, {make("d", "x", 1)}}, &unanswered_);
  ASSERT_TRUE(second->wait_all());
  EXPECT_EQ(unanswered_.load(), 0u) << "failed writes are answered, and counted down, too";
  for (auto& err : second->errors) {
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("storage failed"), std::string::npos) << *err;
    EXPECT_NE(err->find("No space left on device (injected)"), std::string::npos) << *err;
  }
  EXPECT_TRUE(db->lookup({"a", "x"}));
  EXPECT_TRUE(db->lookup({"b", "x"}));
  EXPECT_FALSE(db->lookup({"c", "x"})) << "memory must not run ahead of the WAL";
  EXPECT_FALSE(db->lookup({"d", "x"}));
  EXPECT_EQ(counters_.indexed.load(), 2u);
  EXPECT_EQ(counters_.index_failures.load(), 2u);
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
}

TEST_F(storage_actor_test, a_write_without_data_is_answered_only_after_the_writes_before_it) {
  auto db = open();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto storage_handle = spawn(sys, *db, {});
  unanswered_ += 2;
  // Whether "a/x" was in the store when the empty write's answer arrived.
  auto seen = std::make_shared<answers>();
  seen->errors.resize(1);
  sys.spawn([&, seen](caf::event_based_actor* self) {
    self->request(storage_handle, caf::infinite, write_atom::value, int32_t{0},
                  std::vector<event>{make("a", "x", 1)}, std::vector<event>{}, uint64_t{1})
        .then([](uint64_t) {}, [](caf::error&) {});
    self->request(storage_handle, caf::infinite, write_atom::value, int32_t{0},
                  std::vector<event>{}, std::vector<event>{}, uint64_t{1})
        .then([&, seen](uint64_t) {
          std::lock_guard lock{seen->mtx};
          seen->errors[0] = db->lookup({"a", "x"}) ? "written" : "not yet written";
          ++seen->done;
          seen->cv.notify_all();
        });
  });
  ASSERT_TRUE(seen->wait_all());
  EXPECT_EQ(seen->errors[0], "written");
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
}

TEST_F(storage_actor_test, flush_commits_an_open_group_at_once) {
  auto db = open();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto storage_handle = spawn(sys, *db, {1000, std::chrono::microseconds{std::chrono::hours{1}}});
  auto got = write_all(sys, storage_handle, {{make("a", "x", 1)}});
  // The write may still be on its way: flush until its answer came (each flush is ordered
  // behind whatever reached the mailbox before it).
  caf::scoped_actor self{sys};
  for (int i = 0; i < 1000; ++i) {
    bool ok = false;
    self->request(storage_handle, guard_timeout, flush_atom::value)
        .receive([&](bool r) { ok = r; }, [&](caf::error&) {});
    ASSERT_TRUE(ok);
    std::unique_lock lock{got->mtx};
    if (got->cv.wait_for(lock, 10ms, [&] { return got->done == 1; }))
      break;
  }
  ASSERT_TRUE(got->wait_all());
  EXPECT_EQ(got->errors[0], "");
  EXPECT_TRUE(db->lookup({"a", "x"}));
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
}

// The storage actor counts a write down right after answering its ticket, on its own thread:
// wait (bounded) for that rather than race it.
bool counted_down(const std::atomic<uint64_t>& unanswered) {
  auto until = std::chrono::steady_clock::now() + guard_timeout;
  while (unanswered.load() != 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  return unanswered.load() == 0;
}

// Writes sent with tickets (a TCP connection's batches): answered through the ticket, after the
// store has them, or with the store's reason when the commit fails.
TEST_F(storage_actor_test, ticket_writes_are_answered_through_the_ticket_after_the_write) {
  auto db = open();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  // Groups of two writes, closed by size only.
  auto storage_handle = spawn(sys, *db, {2, std::chrono::microseconds{std::chrono::hours{1}}});
  auto got = std::make_shared<answers>();
  got->errors.resize(4);
  got->counts.resize(4);
  auto ticket = [&](size_t i) {
    return std::make_shared<ingest_waiter>(1, [got, i, &db](uint64_t n, std::string error) {
      std::lock_guard lock{got->mtx};
      got->counts[i] = n;
      // Answered means written: the event's key is in the store when the answer comes.
      got->errors[i] = error.empty() && !db->lookup({"k" + std::to_string(i), "x"})
                           ? "answered before the write"
                           : error;
      ++got->done;
      got->cv.notify_all();
    });
  };
  unanswered_ += 2;
  for (size_t i = 0; i < 2; ++i)
    caf::anon_send(storage_handle, write_atom::value, int32_t{0},
                   std::vector<event>{make("k" + std::to_string(i), "x", 1)}, std::vector<event>{},
                   uint64_t{5 + i}, ticket(i));
  {
    std::unique_lock lock{got->mtx};
    ASSERT_TRUE(got->cv.wait_for(lock, guard_timeout, [&] { return got->done == 2; }));
  }
  EXPECT_EQ(got->errors[0], "");
  EXPECT_EQ(got->errors[1], "");
  EXPECT_EQ(got->counts[0], 5u);
  EXPECT_EQ(got->counts[1], 6u);
  EXPECT_TRUE(counted_down(unanswered_));

  fault_->fail = true;
  unanswered_ += 2;
  for (size_t i = 2; i < 4; ++i)
    caf::anon_send(storage_handle, write_atom::value, int32_t{0},
                   std::vector<event>{make("k" + std::to_string(i), "x", 1)}, std::vector<event>{},
                   uint64_t{1}, ticket(i));
  ASSERT_TRUE(got->wait_all());
  for (size_t i = 2; i < 4; ++i) {
    ASSERT_TRUE(got->errors[i]);
    EXPECT_NE(got->errors[i]->find("No space left on device (injected)"), std::string::npos)
        << *got->errors[i];
  }
  EXPECT_TRUE(counted_down(unanswered_));
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
}
