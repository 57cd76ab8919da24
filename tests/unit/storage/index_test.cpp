// Tests of the in-memory index: Riemann's insert and expiry rules, keys, and query paths.
#include "index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

using namespace dmon;

namespace {

event make(std::optional<std::string> host, std::optional<std::string> service,
           std::optional<int64_t> time_us = 0, std::optional<double> ttl = std::nullopt) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  e.time_us = time_us;
  e.ttl = ttl;
  return e;
}

query::predicate must_parse(std::string_view q) {
  auto p = query::parse(q);
  EXPECT_TRUE(p) << q << ": " << (p ? "" : p.error().message);
  return p ? *p : *query::parse("false");
}

// Returns `events` ordered by key, for comparing results that come in no particular order.
std::vector<event> by_key(std::vector<event> events) {
  std::sort(events.begin(), events.end(), [](const event& a, const event& b) {
    return index_key::of(a).encode() < index_key::of(b).encode();
  });
  return events;
}

}  // namespace

TEST(index, an_event_without_ttl_gets_the_default_and_one_without_time_gets_now) {
  dmon::index idx{42};
  auto before = now_micros();
  auto stored = idx.insert(make("h", "s", std::nullopt));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->ttl, 42.0);
  ASSERT_TRUE(stored->time_us);
  EXPECT_GE(*stored->time_us, before);
  EXPECT_EQ(idx.lookup({"h", "s"}), stored);
}

TEST(index, an_expired_state_deletes_the_key) {
  dmon::index idx;
  idx.insert(make("h", "s"));
  auto gone = make("h", "s");
  gone.state = "expired";
  EXPECT_FALSE(idx.insert(gone));
  EXPECT_EQ(idx.size(), 0u);
  EXPECT_FALSE(idx.lookup({"h", "s"}));
}

TEST(index, nil_and_empty_key_parts_are_different_keys) {
  dmon::index idx;
  idx.insert(make(std::nullopt, std::nullopt));
  idx.insert(make("", std::nullopt));
  idx.insert(make(std::nullopt, ""));
  idx.insert(make("", ""));
  EXPECT_EQ(idx.size(), 4u);
}

TEST(index, keys_with_nul_bytes_never_collide) {
  using namespace std::string_literals;
  index_key a{"a\0\1b"s, std::nullopt};
  index_key b{"a"s, "b"s};
  index_key c{"a\0"s, "\1b"s};
  EXPECT_NE(a.encode(), b.encode());
  EXPECT_NE(a.encode(), c.encode());
  EXPECT_NE(b.encode(), c.encode());
}

TEST(index, an_encoded_key_decodes_to_the_key) {
  using namespace std::string_literals;
  for (auto& k : std::vector<index_key>{{std::nullopt, std::nullopt},
                                        {""s, std::nullopt},
                                        {std::nullopt, ""s},
                                        {"a\0\1b"s, "x\xff\xffy"s},
                                        {"host-1"s, "cpu"s}}) {
    auto back = index_key::decode(k.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, k);
  }
  EXPECT_FALSE(index_key::decode(""));
  EXPECT_FALSE(index_key::decode("\1abc"s));
  EXPECT_FALSE(index_key::decode("\0\0\0"s));
  EXPECT_FALSE(index_key::decode("\1a\xff\x03\0\0"s));
}

TEST(index, the_encoded_key_apis_find_entries_with_escaped_names) {
  using namespace std::string_literals;
  dmon::index idx;
  auto e = make("h\0st"s, "s\xffrv"s);
  e.ttl = 10;
  e.time_us = 1'000'000;
  idx.insert(e);
  auto key = index_key::of(e).encode();
  EXPECT_TRUE(idx.contains(key));
  EXPECT_TRUE(idx.contains(index_key::hash(e), e));
  ASSERT_TRUE(idx.find(key));
  EXPECT_EQ(idx.find(key)->host, e.host);
  EXPECT_EQ(idx.deadline_of(key), 11'000'000);
  EXPECT_FALSE(idx.contains(index_key{"h"s, "s"s}.encode()));
  EXPECT_FALSE(idx.contains("not a key"s));
}

TEST(index, an_entry_expires_only_when_now_minus_time_is_strictly_greater_than_ttl) {
  dmon::index idx;
  idx.insert(make("h", "s", 1'000'000, 2.0));
  EXPECT_TRUE(idx.expire(3'000'000).empty()) << "now - time == ttl is not expired";
  auto gone = idx.expire(3'000'001);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].service, "s");
  EXPECT_EQ(idx.size(), 0u);
}

TEST(index, the_deadline_follows_the_strict_rule_for_fractional_ttls) {
  auto e = make("h", "s", 10, 0.0000015);  // 1.5 us
  auto d = expiry_deadline(e, 60);
  EXPECT_EQ(d, 11);
  // now - time = 1 is not > 1.5; 2 is.
  EXPECT_FALSE(11 > d);
  EXPECT_TRUE(12 > d);
  EXPECT_EQ(expiry_deadline(make("h", "s", 0, std::nullopt), 60), 60'000'000);
  EXPECT_EQ(expiry_deadline(make("h", "s", 0, std::numeric_limits<double>::quiet_NaN()), 60),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(expiry_deadline(make("h", "s", std::numeric_limits<int64_t>::max(), 1e300), 60),
            std::numeric_limits<int64_t>::max());
}

TEST(index, the_planner_picks_an_index_path_for_the_shapes_it_knows) {
  auto plan = [](std::string_view q) { return dmon::index::plan(must_parse(q)); };
  EXPECT_EQ(plan(R"(host = "a" and service = "b")"), query_path::lookup);
  EXPECT_EQ(plan(R"(service = "b" and metric > 1 and host = "a")"), query_path::lookup);
  EXPECT_EQ(plan(R"(host = "a")"), query_path::host);
  EXPECT_EQ(plan(R"("a" = host)"), query_path::host);
  EXPECT_EQ(plan(R"(host = nil)"), query_path::host);
  EXPECT_EQ(plan(R"(service = "b")"), query_path::service);
  EXPECT_EQ(plan(R"(service =~ "b")"), query_path::service);
  EXPECT_EQ(plan(R"(service =~ "disk%")"), query_path::service_prefix);
  EXPECT_EQ(plan(R"(host =~ "web%" and metric > 2)"), query_path::host_prefix);
  EXPECT_EQ(plan(R"(host =~ "web%" and service = "cpu")"), query_path::service);
  EXPECT_EQ(plan(R"(service = "a" or service = "b")"), query_path::scan);
  EXPECT_EQ(plan(R"(not host = "a")"), query_path::scan);
  EXPECT_EQ(plan(R"(host = 1)"), query_path::scan);
  EXPECT_EQ(plan(R"(service =~ "d%sk%")"), query_path::scan);
  EXPECT_EQ(plan(R"(metric > 1)"), query_path::scan);
  EXPECT_EQ(plan("true"), query_path::scan);
}

TEST(index, every_query_path_returns_what_a_full_scan_returns_on_random_data) {
  std::vector<std::optional<std::string>> hosts{std::nullopt, "",     "web",  "web-1", "web-2",
                                                "web-10",     "db-1", "webz", "w"};
  std::vector<std::optional<std::string>> services{
      std::nullopt, "", "cpu", "cpu user", "disk", "disk /", "disk /var", "dis", "memory"};
  std::mt19937 rng{7};
  dmon::index idx;
  // The oracle: what the index should hold, kept apart from its own structures
  // (the index scans through its host postings, so it cannot check itself).
  std::map<std::string, event> model;
  for (int i = 0; i < 2000; ++i) {
    auto e = make(hosts[rng() % hosts.size()], services[rng() % services.size()],
                  int64_t(rng() % 1000), 60);
    if (rng() % 2)
      e.metric = double(rng() % 100) / 100;
    else
      e.metric = int64_t(rng() % 3);
    if (rng() % 3 == 0)
      e.tags = {"t"};
    if (rng() % 10 == 0)
      e.state = "expired";
    // Remove now and then, so postings are swap-removed in every position.
    if (rng() % 7 == 0) {
      idx.remove(index_key::of(e));
      model.erase(index_key::of(e).encode());
      continue;
    }
    auto key = index_key::of(e).encode();
    ASSERT_EQ(index_key::encode(e), key) << "the copy-free encoding must agree";
    if (auto stored = idx.insert(e))
      model[key] = *stored;
    else
      model.erase(key);
  }
  ASSERT_GT(idx.size(), 40u);
  ASSERT_EQ(idx.size(), model.size());
  std::vector<std::string> queries{
      R"(host = "web-1")",
      R"(host = "")",
      R"(host = nil)",
      R"(service = "cpu")",
      R"(service = nil)",
      R"("disk" = service)",
      R"(host = "web-1" and service = "cpu")",
      R"(host = "nope" and service = "cpu")",
      R"(host = nil and service = "")",
      R"(service = "cpu" and metric > 0.5 and host = "web-2")",
      R"(service =~ "disk%")",
      R"(service =~ "%")",
      R"(service =~ "")",
      R"(host =~ "web%" and metric > 0.5)",
      R"(host =~ "web-1%")",
      R"(host =~ "web-1")",
      R"(host =~ "zzz%")",
      R"(host = "web-1" and service =~ "disk%")",
      R"(service =~ "cpu" and tagged "t")",
      R"(service = "cpu" or service = "disk /")",
      R"(metric > 0.5)",
      R"(not host = "web-1")",
      R"(host ~= "^web-[0-9]$")",
      R"(host = 1)",
      "true",
      "false",
  };
  for (auto& q : queries) {
    auto p = must_parse(q);
    std::vector<event> expected;
    for (auto& [key, e] : model)
      if (p.matches(e))
        expected.push_back(e);
    EXPECT_EQ(by_key(idx.select(p)), by_key(expected))
        << q << " via " << to_string(dmon::index::plan(p));
    EXPECT_EQ(by_key(idx.select([&](const event& e) { return p.matches(e); })), by_key(expected))
        << q << " via the function scan";
  }
}

TEST(index, replacing_or_removing_entries_keeps_the_secondary_paths_in_step) {
  dmon::index idx;
  idx.insert(make("a", "x"));
  idx.insert(make("a", "y"));
  idx.insert(make("b", "x"));
  idx.insert(make("a", "x", 5));  // replace
  EXPECT_TRUE(idx.remove({"a", "y"}));
  EXPECT_FALSE(idx.remove({"a", "y"}));
  auto by_host = idx.select(must_parse(R"(host = "a")"));
  ASSERT_EQ(by_host.size(), 1u);
  EXPECT_EQ(by_host[0].time_us, 5);
  EXPECT_EQ(idx.select(must_parse(R"(service = "x")")).size(), 2u);
  EXPECT_EQ(idx.select(must_parse(R"(service =~ "y%")")).size(), 0u);
}

namespace {

// An index of `hosts` x `services` entries, service names "svc-<j>", host names "host-<i>".
void fill(dmon::index& idx, int hosts, int services) {
  for (int i = 0; i < hosts; ++i)
    for (int j = 0; j < services; ++j)
      idx.insert(make("host-" + std::to_string(i), "svc-" + std::to_string(j), now_micros()));
}

// Walks every page of `q`; returns the matches and counts the pages in `pages`.
std::vector<event> all_pages(const dmon::index& idx, std::string_view q, size_t page_size,
                             size_t* pages = nullptr, size_t* largest = nullptr) {
  auto pred = must_parse(q);
  dmon::index::cursor at;
  std::vector<event> out;
  size_t n = 0, big = 0;
  bool more = true;
  while (more) {
    std::vector<event> page;
    more = idx.page(pred, at, page_size, page);
    ++n;
    big = std::max(big, page.size());
    out.insert(out.end(), page.begin(), page.end());
    if (n > 100000)
      break;  // a walk that never ends fails the comparison below
  }
  if (pages)
    *pages = n;
  if (largest)
    *largest = big;
  return out;
}

}  // namespace

TEST(index, visit_calls_back_with_exactly_what_select_returns_on_every_path) {
  dmon::index idx;
  fill(idx, 20, 15);
  idx.insert(make(std::nullopt, "svc-1", now_micros()));
  idx.insert(make("host-3", std::nullopt, now_micros()));
  for (auto q : {"true", "false", "host = \"host-3\" and service = \"svc-2\"", "host = \"host-3\"",
                 "service = \"svc-1\"", "host =~ \"host-1%\"", "service =~ \"svc-1%\"",
                 "host = nil", "service = nil", "metric > 5", "host = \"nope\""}) {
    auto pred = must_parse(q);
    std::vector<event> seen;
    auto n = idx.visit(pred, [&](const event& e) { seen.push_back(e); });
    EXPECT_EQ(n, seen.size()) << q;
    EXPECT_EQ(by_key(seen), by_key(idx.select(pred))) << q;
  }
}

TEST(index, pages_together_return_exactly_what_select_returns_on_every_path) {
  dmon::index idx;
  fill(idx, 40, 30);
  idx.insert(make(std::nullopt, "svc-1", now_micros()));
  idx.insert(make("host-3", std::nullopt, now_micros()));
  for (auto q : {"true", "false", "host = \"host-3\" and service = \"svc-2\"", "host = \"host-3\"",
                 "service = \"svc-1\"", "host =~ \"host-1%\"", "service =~ \"svc-1%\"",
                 "service =~ \"%\"", "host = nil", "metric > 5", "host = \"nope\""}) {
    for (size_t page_size : {1, 7, 100, 5000}) {
      auto got = all_pages(idx, q, page_size);
      EXPECT_EQ(by_key(got), by_key(idx.select(must_parse(q)))) << q << " pages of " << page_size;
    }
  }
}

TEST(index, a_large_answer_comes_in_bounded_pages_and_a_small_one_in_one) {
  dmon::index idx;
  fill(idx, 200, 10);  // 2000 entries, 10 per host, 200 per service
  size_t pages = 0, largest = 0;
  EXPECT_EQ(all_pages(idx, "true", 100, &pages, &largest).size(), 2000u);
  EXPECT_GE(pages, 20u);
  // Pages end at a host boundary: at most one host (10 entries) past the page size.
  EXPECT_LE(largest, 110u);

  // 200 candidates for one service: more than a page, so walked host by host.
  EXPECT_EQ(all_pages(idx, "service = \"svc-3\"", 50, &pages, &largest).size(), 200u);
  EXPECT_GT(pages, 1u);
  EXPECT_LE(largest, 51u);

  // A host query with more candidates than a page is walked service by service.
  EXPECT_EQ(all_pages(idx, "host = \"host-7\"", 3, &pages, &largest).size(), 10u);
  EXPECT_GT(pages, 1u);
  EXPECT_LE(largest, 4u);

  EXPECT_EQ(all_pages(idx, "service = \"svc-3\"", 500, &pages).size(), 200u);
  EXPECT_EQ(pages, 1u);
  EXPECT_EQ(all_pages(idx, "host = \"host-1\" and service = \"svc-1\"", 1, &pages).size(), 1u);
  EXPECT_EQ(pages, 1u);
}

TEST(index, a_sparse_scan_returns_empty_pages_rather_than_holding_the_lock_for_the_whole_index) {
  dmon::index idx;
  fill(idx, 100, 10);
  auto rare = make("host-99", "svc-9", now_micros());
  rare.metric = int64_t{7};
  idx.insert(rare);
  size_t pages = 0;
  auto got = all_pages(idx, "metric = 7", 2, &pages);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].host, "host-99");
  // 1000 entries examined at most 32 per page (whole hosts of 10 past that).
  EXPECT_GE(pages, 20u);
}

TEST(index, an_entry_present_during_the_whole_walk_is_returned_exactly_once_despite_writes) {
  dmon::index idx;
  fill(idx, 50, 10);
  auto pred = must_parse("true");
  dmon::index::cursor at;
  std::map<std::string, int> seen;
  bool more = true;
  int round = 0;
  while (more && round < 10000) {
    std::vector<event> page;
    more = idx.page(pred, at, 25, page);
    for (auto& e : page)
      ++seen[index_key::of(e).encode()];
    // Between pages: remove and add entries of other keys, and rewrite a kept one.
    idx.remove({"host-" + std::to_string(round % 50), "svc-9"});
    idx.insert(make("new-" + std::to_string(round), "svc-0", now_micros()));
    idx.insert(make("host-0", "svc-0", now_micros()));
    ++round;
  }
  EXPECT_FALSE(more);
  for (int i = 0; i < 50; ++i)
    for (int j = 0; j < 9; ++j) {
      auto key = index_key{"host-" + std::to_string(i), "svc-" + std::to_string(j)}.encode();
      EXPECT_EQ(seen[key], 1) << "host-" << i << " svc-" << j;
    }
  for (auto& [key, n] : seen)
    EXPECT_EQ(n, 1);
}

TEST(index, a_marking_commit_reports_each_key_once_per_mark_and_every_erase) {
  dmon::index idx{60};
  std::vector<std::string> reported;
  auto note = [&](const event& e) { reported.push_back(*e.host + "/" + *e.service); };
  auto change = [](std::string host, bool erase = false) {
    auto e = make(host, "s");
    return dmon::index::change{index_key::hash(e), std::move(e), erase};
  };
  std::vector<dmon::index::change> changes{change("a"), change("b"), change("a")};
  idx.commit(changes, {}, 1, note);
  EXPECT_EQ(reported, (std::vector<std::string>{"a/s", "b/s"}));
  reported.clear();
  changes = {change("a"), change("c")};
  idx.commit(changes, {}, 1, note);
  EXPECT_EQ(reported, (std::vector<std::string>{"c/s"})) << "a carries mark 1 already";
  reported.clear();
  changes = {change("a"), change("b", true), change("b"), change("zz", true)};
  idx.commit(changes, {}, 2, note);
  EXPECT_EQ(reported, (std::vector<std::string>{"a/s", "b/s", "b/s"}))
      << "a new mark reports again; an erase always, an absent key's never";
  EXPECT_EQ(idx.size(), 3u);
}

// The key hash spreads keys shaped like real ones (and odd ones: empty, long, one byte apart)
// over a table's low bits as a random function would, with no two of them equal.
TEST(index, the_key_hash_tells_keys_apart_and_spreads_them_over_low_bits) {
  std::vector<uint64_t> hashes;
  for (int h = 0; h < 100; ++h)
    for (int s = 0; s < 100; ++s)
      hashes.push_back(
          index_key::hash(make("host-" + std::to_string(h), "svc-" + std::to_string(s))));
  std::vector<uint64_t> buckets(4096);
  for (auto h : hashes)
    ++buckets[h & 4095];
  // 10,000 random hashes leave about 91 % of 4096 buckets used.
  auto used = std::count_if(buckets.begin(), buckets.end(), [](uint64_t n) { return n > 0; });
  EXPECT_GT(used, 4096 * 85 / 100);
  std::string grow;
  for (int n = 0; n <= 40; ++n, grow += static_cast<char>('a' + n % 3)) {
    hashes.push_back(index_key::hash(make(grow, std::nullopt)));
    hashes.push_back(index_key::hash(make(std::nullopt, grow)));
    hashes.push_back(index_key::hash(make(grow, grow)));
  }
  hashes.push_back(index_key::hash(make(std::nullopt, std::nullopt)));
  std::sort(hashes.begin(), hashes.end());
  EXPECT_EQ(std::adjacent_find(hashes.begin(), hashes.end()), hashes.end());
}

// One commit of many changes (more than it looks ahead, with repeated keys, erases and new
// keys that grow the table) ends where applying them one by one ends.
TEST(index, a_large_commit_agrees_with_a_model_of_its_changes_in_order) {
  std::mt19937_64 rng{11};
  dmon::index idx{60};
  std::map<std::string, int64_t> model;
  for (int round = 0; round < 20; ++round) {
    std::vector<dmon::index::change> changes;
    size_t n = 1 + rng() % 300;
    for (size_t i = 0; i < n; ++i) {
      auto host = "h" + std::to_string(rng() % (50 + 40 * round));
      bool erase = rng() % 5 == 0;
      auto e = make(host, "s", static_cast<int64_t>(round * 1000 + i), 60);
      if (erase)
        model.erase(host);
      else
        model[host] = *e.time_us;
      auto hash = index_key::hash(e);
      changes.push_back({hash, std::move(e), erase});
    }
    idx.commit(changes);
    ASSERT_EQ(idx.size(), model.size()) << "round " << round;
    for (auto& [host, time] : model) {
      auto found = idx.lookup({host, "s"});
      ASSERT_TRUE(found) << host;
      EXPECT_EQ(found->time_us, time) << host;
    }
  }
}

// A name's hash depends on its bytes only, never on what lies after them in its buffer (a
// long name read past its end once hashed equal keys apart, and the index held them twice).
TEST(index, the_key_hash_of_a_name_ignores_the_bytes_after_it) {
  for (size_t n = 0; n <= 70; ++n) {
    std::string padded(n + 24, 'z');
    padded.resize(n);  // the buffer still holds 'z' past the end
    std::string fresh(n, 'z');
    fresh.reserve(n + 40);
    std::fill(fresh.data() + n + 1, fresh.data() + n + 40, 'q');
    EXPECT_EQ(index_key::hash(make(padded, padded)), index_key::hash(make(fresh, fresh))) << n;
  }
}
