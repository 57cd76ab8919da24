// merge_answers: one entry per key; owner's copy wins; replicas only for silent owners.
#include "query_merge.hpp"

#include <gtest/gtest.h>

#include <map>

#include "ownership.hpp"

namespace {

using dmon::cluster_view;
using dmon::event;
using dmon::node_answer;

event entry(const std::string& host, int64_t time, double metric) {
  event e;
  e.host = host;
  e.service = "s";
  e.time_us = time;
  e.metric = metric;
  return e;
}

const cluster_view v{dmon::ring{{"a", "b", "c"}}, "a", 2};

// A host whose key `owner` owns and `replica` replicates.
std::string host_owned_by(const std::string& owner) {
  for (int i = 0;; ++i) {
    auto h = "h" + std::to_string(i);
    if (v.owner(dmon::ownership::key_hash(entry(h, 0, 0))) == owner)
      return h;
  }
}

std::map<std::string, double> by_host(const std::vector<event>& events) {
  std::map<std::string, double> out;
  for (auto& e : events) {
    EXPECT_FALSE(out.count(*e.host)) << "duplicate " << *e.host;
    out[*e.host] = *e.metric_as_double();
  }
  return out;
}

}  // namespace

TEST(merge_answers, owner_copy_wins_over_replicas_and_older_indexes) {
  auto k = host_owned_by("b");
  std::vector<node_answer> answers{
      {"a", true, {entry(k, 50, 1)}, {}},  // left over from a handoff, older
      {"b", true, {entry(k, 10, 2)}, {}},  // the owner (even with an older time)
      {"c", true, {}, {entry(k, 99, 3)}},  // a replica
  };
  auto m = merge_answers(v, answers);
  EXPECT_EQ(by_host(m.events), (std::map<std::string, double>{{k, 2}}));
  EXPECT_TRUE(m.missing.empty());
  EXPECT_FALSE(m.partial);
}

TEST(merge_answers, a_key_in_transit_is_found_in_the_old_owners_index) {
  auto k = host_owned_by("c");
  std::vector<node_answer> answers{
      {"a", true, {entry(k, 5, 1)}, {}},
      {"b", true, {entry(k, 7, 2)}, {}},
      {"c", true, {}, {}},
  };
  EXPECT_EQ(by_host(merge_answers(v, answers).events), (std::map<std::string, double>{{k, 2}}));
}

TEST(merge_answers, replicas_do_not_bring_back_what_the_owner_deleted) {
  auto k = host_owned_by("b");
  std::vector<node_answer> answers{
      {"a", true, {}, {entry(k, 5, 1)}},
      {"b", true, {}, {}},
      {"c", true, {}, {}},
  };
  EXPECT_TRUE(merge_answers(v, answers).events.empty());
}

TEST(merge_answers, replicas_stand_in_for_a_silent_owner) {
  auto k = host_owned_by("b");
  auto mine = host_owned_by("a");
  std::vector<node_answer> answers{
      {"a", true, {entry(mine, 1, 7)}, {entry(k, 5, 1)}},
      {"b", false, {}, {}},
      {"c", true, {}, {entry(k, 9, 4)}},
  };
  auto m = merge_answers(v, answers);
  EXPECT_EQ(by_host(m.events), (std::map<std::string, double>{{k, 4}, {mine, 7}}));
  EXPECT_EQ(m.missing, std::vector<std::string>{"b"});
  EXPECT_FALSE(m.partial) << "one member missing with 2 copies: every key has a copy";
  answers[2].answered = false;
  auto worse = merge_answers(v, answers);
  EXPECT_TRUE(worse.partial);
  EXPECT_EQ(worse.missing, (std::vector<std::string>{"b", "c"}));
}
