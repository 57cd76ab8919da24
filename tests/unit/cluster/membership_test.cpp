// membership: peer parsing, retry backoff, incarnations and gossip merge, driven by a fake clock.
#include "membership.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using dmon::member_info;
using dmon::membership;
using dmon::peer_endpoint;
using dmon::peer_state;

namespace {

// A fake clock: tests move time by hand, nothing sleeps.
struct fake_clock {
  membership::time_point now{std::chrono::seconds{1000}};
  void advance(membership::duration d) { now += d; }
};

member_info info(std::string id, uint64_t incarnation, std::string endpoint) {
  return {std::move(id), incarnation, std::move(endpoint)};
}

membership make(membership::options opts = {}) {
  opts.seed = 1;
  return membership{info("a", 1, "127.0.0.1:5557"), opts};
}

std::vector<std::string> ids(const membership& m) {
  std::vector<std::string> out;
  for (auto& x : m.live())
    out.push_back(x.node_id);
  return out;
}

const membership::peer_status* status(const membership& m, const peer_endpoint& ep) {
  static membership::peer_status found;
  for (auto& p : m.peers())
    if (p.endpoint == ep) {
      found = p;
      return &found;
    }
  return nullptr;
}

const peer_endpoint b_ep{"127.0.0.2", 5557};
const peer_endpoint c_ep{"127.0.0.3", 5557};

}  // namespace

TEST(parse_peers, accepts_hosts_ports_and_bracketed_ipv6) {
  auto peers = dmon::parse_peers(" a:1, b ,,[::1]:7,[fe80::1], a:1", 5557);
  ASSERT_TRUE(peers) << peers.error().message;
  std::vector<peer_endpoint> want{{"a", 1}, {"b", 5557}, {"::1", 7}, {"fe80::1", 5557}};
  EXPECT_EQ(*peers, want);
  EXPECT_EQ((*peers)[2].to_string(), "[::1]:7");
  EXPECT_EQ((*peers)[0].to_string(), "a:1");
}

TEST(parse_peers, an_empty_list_means_no_peers) {
  auto peers = dmon::parse_peers("", 5557);
  ASSERT_TRUE(peers);
  EXPECT_TRUE(peers->empty());
}

TEST(parse_peers, bad_entries_are_named_with_a_fix) {
  for (auto bad : {"a:0", "a:65536", "a:x", ":5557", "::1:5557", "[::1", "[::1]x", "a:"}) {
    auto peers = dmon::parse_peers(std::string{"ok:1,"} + bad, 5557);
    ASSERT_FALSE(peers) << bad;
    EXPECT_EQ(peers.error().code, dmon::ec::bad_config);
    EXPECT_NE(peers.error().message.find("host:port"), std::string::npos) << peers.error().message;
  }
}

TEST(resolve_peers, returns_every_address_of_a_name_on_the_given_port) {
  auto peers = dmon::resolve_peers("localhost", 5557);
  ASSERT_TRUE(peers) << peers.error().message;
  ASSERT_FALSE(peers->empty());
  for (auto& p : *peers) {
    EXPECT_EQ(p.port, 5557);
    EXPECT_TRUE(p.host == "127.0.0.1" || p.host == "::1") << p.host;
  }
  auto literal = dmon::resolve_peers("127.0.0.7", 1);
  ASSERT_TRUE(literal);
  EXPECT_EQ(*literal, (std::vector<peer_endpoint>{{"127.0.0.7", 1}}));
}

TEST(resolve_peers, an_unknown_name_is_an_error_that_says_what_to_check) {
  auto peers = dmon::resolve_peers("no-such-host.invalid", 5557);
  ASSERT_FALSE(peers);
  EXPECT_NE(peers.error().message.find("--peers-dns"), std::string::npos);
}

TEST(membership, a_node_without_peers_serves_alone_and_is_ready) {
  fake_clock clock;
  auto m = make();
  EXPECT_EQ(ids(m), std::vector<std::string>{"a"});
  EXPECT_TRUE(m.ready());
  EXPECT_EQ(m.readiness(clock.now), "ready: 1 member (a)");
  EXPECT_TRUE(m.due(clock.now).empty());
  EXPECT_FALSE(m.next_attempt());
}

TEST(membership, seeds_are_due_at_once_and_connecting_until_answered) {
  fake_clock clock;
  auto m = make();
  m.set_seeds({b_ep, c_ep}, clock.now);
  EXPECT_EQ(m.due(clock.now), (std::vector<peer_endpoint>{b_ep, c_ep}));
  EXPECT_TRUE(m.due(clock.now).empty()) << "in-flight attempts are not handed out twice";
  EXPECT_FALSE(m.ready());
  EXPECT_EQ(m.readiness(clock.now),
            "waiting for peers 127.0.0.2:5557 (connecting), 127.0.0.3:5557 (connecting); live: 1 "
            "member (a)");
  EXPECT_TRUE(m.connected(b_ep, info("b", 5, "127.0.0.2:5557"), clock.now));
  EXPECT_TRUE(m.connected(c_ep, info("c", 5, "127.0.0.3:5557"), clock.now));
  EXPECT_TRUE(m.ready());
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(m.readiness(clock.now), "ready: 3 members (a, b, c)");
}

TEST(membership, retries_back_off_from_half_a_second_doubling_to_thirty) {
  fake_clock clock;
  auto m = make(membership::options{.jitter = 0});
  m.set_seeds({b_ep}, clock.now);
  std::vector<double> delays;
  for (int i = 0; i < 9; ++i) {
    ASSERT_EQ(m.due(clock.now).size(), 1u);
    m.connect_failed(b_ep, "connection refused", clock.now);
    auto next = *m.next_attempt();
    delays.push_back(std::chrono::duration<double>(next - clock.now).count());
    EXPECT_TRUE(m.due(next - 1ms).empty()) << "retry came early";
    clock.now = next;
  }
  EXPECT_EQ(delays, (std::vector<double>{0.5, 1, 2, 4, 8, 16, 30, 30, 30}));
}

TEST(membership, jitter_keeps_delays_within_bounds_and_under_the_cap) {
  fake_clock clock;
  auto m = make(membership::options{.jitter = 0.2});
  m.set_seeds({b_ep}, clock.now);
  for (int i = 1; i <= 12; ++i) {
    ASSERT_EQ(m.due(clock.now).size(), 1u);
    m.connect_failed(b_ep, "timeout", clock.now);
    auto delay = std::chrono::duration<double>(*m.next_attempt() - clock.now).count();
    double base = std::min(0.5 * (1 << (i - 1)), 30.0);
    EXPECT_GE(delay, base * 0.8 - 1e-6) << "attempt " << i;
    EXPECT_LE(delay, std::min(base * 1.2, 30.0) + 1e-6) << "attempt " << i;
    clock.now = *m.next_attempt();
  }
}

TEST(membership, readiness_names_the_peer_the_wait_and_the_reason) {
  fake_clock clock;
  auto m = make(membership::options{.initial_backoff = 4s, .jitter = 0});
  m.set_seeds({b_ep}, clock.now);
  m.due(clock.now);
  m.connect_failed(b_ep, "connection refused", clock.now);
  EXPECT_EQ(m.readiness(clock.now),
            "waiting for peers 127.0.0.2:5557 (retry in 4 s: connection refused); live: 1 member "
            "(a)");
  clock.advance(3500ms);
  EXPECT_NE(m.readiness(clock.now).find("retry in 1 s"), std::string::npos);
}

TEST(membership, a_success_resets_the_backoff) {
  fake_clock clock;
  auto m = make(membership::options{.jitter = 0});
  m.set_seeds({b_ep}, clock.now);
  for (int i = 0; i < 4; ++i) {
    m.due(clock.now);
    m.connect_failed(b_ep, "refused", clock.now);
    clock.now = *m.next_attempt();
  }
  m.due(clock.now);
  m.connected(b_ep, info("b", 1, "127.0.0.2:5557"), clock.now);
  EXPECT_TRUE(m.member_down("b", 1, clock.now));
  EXPECT_EQ(*m.next_attempt() - clock.now, std::chrono::milliseconds{500});
  EXPECT_EQ(status(m, b_ep)->last_error, "connection lost");
}

TEST(membership, a_peer_list_that_includes_ourselves_is_fine) {
  fake_clock clock;
  auto m = make();
  peer_endpoint self_alias{"localhost", 5557};
  m.set_seeds({self_alias, b_ep}, clock.now);
  m.due(clock.now);
  EXPECT_FALSE(m.connected(self_alias, m.self(), clock.now));
  EXPECT_EQ(status(m, self_alias)->state, peer_state::self);
  m.connected(b_ep, info("b", 1, "127.0.0.2:5557"), clock.now);
  EXPECT_TRUE(m.ready());
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b"}));
  clock.advance(1h);
  EXPECT_TRUE(m.due(clock.now).empty()) << "never dials itself again";
}

TEST(membership, gossip_teaches_endpoints_but_does_not_make_members_live) {
  fake_clock clock;
  auto m = make();
  m.set_seeds({b_ep}, clock.now);
  m.due(clock.now);
  m.connected(b_ep, info("b", 1, "127.0.0.2:5557"), clock.now);
  auto learned = m.merge({info("a", 1, "127.0.0.1:5557"), info("b", 1, "127.0.0.2:5557"),
                          info("c", 1, "127.0.0.3:5557")},
                         clock.now);
  EXPECT_EQ(learned, std::vector<peer_endpoint>{c_ep});
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.due(clock.now), std::vector<peer_endpoint>{c_ep});
  EXPECT_TRUE(m.connected(c_ep, info("c", 1, "127.0.0.3:5557"), clock.now));
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(m.ready()) << "learned endpoints do not gate readiness";
}

TEST(membership, a_learned_endpoint_is_forgotten_when_it_fails) {
  fake_clock clock;
  auto m = make();
  m.merge({info("c", 1, "127.0.0.3:5557")}, clock.now);
  m.due(clock.now);
  m.connect_failed(c_ep, "refused", clock.now);
  EXPECT_EQ(status(m, c_ep), nullptr);
  EXPECT_FALSE(m.next_attempt());
}

TEST(membership, an_inbound_hello_makes_a_member_live) {
  fake_clock clock;
  auto m = make();
  EXPECT_TRUE(m.member_up(info("b", 1, "127.0.0.2:5557"), clock.now));
  EXPECT_FALSE(m.member_up(info("b", 1, "127.0.0.2:5557"), clock.now)) << "repeat is no change";
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b"}));
}

TEST(membership, a_restarted_node_replaces_its_old_incarnation) {
  fake_clock clock;
  auto m = make();
  m.member_up(info("b", 1, "127.0.0.2:5557"), clock.now);
  EXPECT_TRUE(m.member_up(info("b", 2, "127.0.0.2:6000"), clock.now));
  EXPECT_EQ(m.find("b")->incarnation, 2u);
  EXPECT_EQ(m.find("b")->endpoint, "127.0.0.2:6000");
  EXPECT_FALSE(m.member_up(info("b", 1, "127.0.0.2:5557"), clock.now)) << "stale hello";
  EXPECT_FALSE(m.member_down("b", 1, clock.now)) << "the old incarnation's down is stale too";
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(m.member_down("b", 2, clock.now));
  EXPECT_EQ(ids(m), std::vector<std::string>{"a"});
}

TEST(membership, a_member_marked_down_stays_out_until_it_reconnects) {
  fake_clock clock;
  auto m = make();
  m.set_seeds({b_ep}, clock.now);
  m.due(clock.now);
  m.connected(b_ep, info("b", 1, "127.0.0.2:5557"), clock.now);
  m.member_up(info("c", 7, "127.0.0.3:5557"), clock.now);
  EXPECT_TRUE(m.member_down("c", 7, clock.now));
  // b still lists c, but our monitor said it is gone: no re-add, no dialing.
  EXPECT_TRUE(
      m.merge({info("b", 1, "127.0.0.2:5557"), info("c", 7, "127.0.0.3:5557")}, clock.now).empty());
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b"}));
  // Its next incarnation is news, and so is a direct reconnect of the same one.
  EXPECT_EQ(m.merge({info("c", 8, "127.0.0.3:5557")}, clock.now), std::vector<peer_endpoint>{c_ep});
  EXPECT_TRUE(m.member_up(info("c", 7, "127.0.0.3:5557"), clock.now));
  EXPECT_EQ(ids(m), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(membership, a_newer_incarnation_in_gossip_cuts_a_seeds_backoff_short) {
  fake_clock clock;
  auto m = make(membership::options{.jitter = 0});
  m.set_seeds({b_ep}, clock.now);
  for (int i = 0; i < 6; ++i) {
    m.due(clock.now);
    m.connect_failed(b_ep, "refused", clock.now);
  }
  ASSERT_TRUE(m.due(clock.now).empty());
  m.merge({info("b", 9, "127.0.0.2:5557")}, clock.now);
  EXPECT_EQ(m.due(clock.now), std::vector<peer_endpoint>{b_ep});
}

TEST(membership, dns_answers_replace_seeds_but_keep_connected_peers) {
  fake_clock clock;
  auto m = make();
  m.seeds_pending("from DNS name dmon.dmon (no answer yet)");
  EXPECT_FALSE(m.ready());
  EXPECT_NE(m.readiness(clock.now).find("dmon.dmon"), std::string::npos);
  m.set_seeds({b_ep, c_ep}, clock.now);
  m.due(clock.now);
  m.connected(b_ep, info("b", 1, "127.0.0.2:5557"), clock.now);
  m.connect_failed(c_ep, "refused", clock.now);
  // The next answer lists neither: c is forgotten, b (connected) stays as learned.
  peer_endpoint d_ep{"127.0.0.4", 5557};
  m.set_seeds({d_ep}, clock.now);
  EXPECT_EQ(status(m, c_ep), nullptr);
  ASSERT_NE(status(m, b_ep), nullptr);
  EXPECT_FALSE(status(m, b_ep)->seed);
  EXPECT_EQ(m.due(clock.now), std::vector<peer_endpoint>{d_ep});
}
