// cluster_actor: three actor systems in one process, each with its own middleman on 127.0.0.1,
// converge on one member list, notice a node going away, and take it back after a restart.
#include "cluster_actor.hpp"

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>

using namespace std::chrono_literals;

namespace {

// Only a guard against hanging forever; convergence is awaited, never timed.
constexpr auto guard_timeout = 60s;

// What one node's subscriber saw last.
struct observed {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<dmon::cluster_member> members;
  int updates = 0;

  std::string describe() {
    std::string out;
    for (auto& m : members)
      out += m.node_id + "@" + std::to_string(m.incarnation) + " ";
    return out;
  }

  // Waits until `pred(members)` holds; returns false only when the guard runs out.
  template <class Pred>
  bool wait_for(Pred pred) {
    std::unique_lock lock{mtx};
    return cv.wait_for(lock, guard_timeout, [&] { return pred(members); });
  }
};

dmon::cluster_subscriber_actor::behavior_type recorder(dmon::cluster_subscriber_actor::pointer,
                                                       std::shared_ptr<observed> obs) {
  return {
      [obs](dmon::members_atom, std::vector<dmon::cluster_member>& list) {
        std::lock_guard lock{obs->mtx};
        obs->members = std::move(list);
        ++obs->updates;
        obs->cv.notify_all();
      },
  };
}

// Stands in for the node's peer-facing actor: answers with its node id, which
// proves a handle from the member list reaches the right node.
caf::behavior peer_stub(caf::event_based_actor*, std::string node_id) {
  return {[node_id](caf::get_atom) { return node_id; }};
}

struct test_config : caf::actor_system_config {
  test_config() {
    load<caf::io::middleman>();
    dmon::register_cluster_types(*this);
    dmon::set_cluster_heartbeat(*this, 1s, 10s);
    set("scheduler.max-threads", 2);
  }
};

// One dmon node's cluster part: its own actor system, middleman, cluster actor and subscriber.
struct node {
  std::string id;
  std::shared_ptr<observed> obs = std::make_shared<observed>();
  test_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor peer;
  dmon::cluster_subscriber_actor subscriber;
  dmon::cluster_handle handle;

  node(std::string node_id, std::vector<dmon::peer_endpoint> peers, std::string dns = {},
       uint16_t dns_port = 0)
      : id(std::move(node_id)) {
    sys = std::make_unique<caf::actor_system>(cfg);
    peer = sys->spawn(peer_stub, id);
    subscriber = sys->spawn(recorder, obs);
    dmon::cluster_options opts;
    opts.node_id = id;
    opts.port = 0;
    opts.peers = std::move(peers);
    opts.gossip_interval = 1s;
    opts.peers_dns = std::move(dns);
    opts.peers_dns_port = dns_port;
    auto h = dmon::start_cluster(*sys, opts, peer, subscriber);
    if (!h)
      throw std::runtime_error(h.error().message);
    handle = *h;
  }

  dmon::peer_endpoint endpoint() const { return {"127.0.0.1", handle.port}; }

  dmon::cluster_status status() {
    caf::scoped_actor self{*sys};
    dmon::cluster_status out;
    self->request(handle.actor, caf::infinite, dmon::status_atom::value)
        .receive([&](dmon::cluster_status& s) { out = std::move(s); }, [](caf::error&) {});
    return out;
  }

  // Like a process exit: every actor goes, the middleman closes every connection.
  ~node() {
    caf::anon_send_exit(handle.actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
    handle = {};
    peer = nullptr;
    subscriber = nullptr;
    sys.reset();
  }
};

auto ids_are(std::vector<std::string> want) {
  return [want](const std::vector<dmon::cluster_member>& members) {
    std::vector<std::string> got;
    for (auto& m : members)
      got.push_back(m.node_id);
    return got == want;
  };
}

}  // namespace

TEST(cluster_actor, three_nodes_converge_lose_one_and_take_it_back) {
  auto a = std::make_unique<node>("a", std::vector<dmon::peer_endpoint>{});
  // b and c know only a; they find each other through a's member list.
  auto b = std::make_unique<node>("b", std::vector{a->endpoint()});
  auto c = std::make_unique<node>("c", std::vector{a->endpoint()});
  for (auto* n : {a.get(), b.get(), c.get()})
    ASSERT_TRUE(n->obs->wait_for(ids_are({"a", "b", "c"})))
        << n->id << " sees " << n->obs->describe();

  // Every handle in the list reaches the node it names.
  {
    std::vector<dmon::cluster_member> members;
    {
      std::lock_guard lock{b->obs->mtx};
      members = b->obs->members;
    }
    caf::scoped_actor self{*b->sys};
    for (auto& m : members) {
      std::string answer;
      self->request(m.handle, caf::infinite, caf::get_atom::value)
          .receive([&](std::string& s) { answer = s; },
                   [&](caf::error& err) { answer = b->sys->render(err); });
      EXPECT_EQ(answer, m.node_id);
    }
  }
  EXPECT_TRUE(b->status().ready) << b->status().readiness;

  EXPECT_EQ(c->handle.node_id, "c");
  c.reset();
  for (auto* n : {a.get(), b.get()})
    ASSERT_TRUE(n->obs->wait_for(ids_are({"a", "b"}))) << n->id << " sees " << n->obs->describe();

  // Same id, new port and a larger incarnation: it replaces the old entry everywhere.
  c = std::make_unique<node>("c", std::vector{a->endpoint()});
  for (auto* n : {a.get(), b.get(), c.get()})
    ASSERT_TRUE(n->obs->wait_for(ids_are({"a", "b", "c"})))
        << n->id << " sees " << n->obs->describe();
  auto c_incarnation = c->status().members.at(2).incarnation;
  for (auto* n : {a.get(), b.get()}) {
    std::lock_guard lock{n->obs->mtx};
    EXPECT_EQ(n->obs->members.at(2).incarnation, c_incarnation) << n->id;
  }
}

auto leaving_are(std::vector<std::string> want) {
  return [want](const std::vector<dmon::cluster_member>& members) {
    std::vector<std::string> got;
    for (auto& m : members)
      if (m.leaving)
        got.push_back(m.node_id);
    return members.size() == 3 && got == want;
  };
}

TEST(cluster_actor, leaves_announced_at_once_reach_every_member_and_the_leavers_stay_live) {
  auto a = std::make_unique<node>("a", std::vector<dmon::peer_endpoint>{});
  auto b = std::make_unique<node>("b", std::vector{a->endpoint()});
  auto c = std::make_unique<node>("c", std::vector{a->endpoint()});
  for (auto* n : {a.get(), b.get(), c.get()})
    ASSERT_TRUE(n->obs->wait_for(ids_are({"a", "b", "c"})))
        << n->id << " sees " << n->obs->describe();
  // b and c are stopped together (a scale-down by two): each learns of the other.
  caf::anon_send(b->handle.actor, dmon::leave_atom::value);
  caf::anon_send(c->handle.actor, dmon::leave_atom::value);
  for (auto* n : {a.get(), b.get(), c.get()})
    ASSERT_TRUE(n->obs->wait_for(leaving_are({"b", "c"})))
        << n->id << " sees " << n->obs->describe();
  // Once a leaver is gone, the mark goes with it; the other stays marked.
  c.reset();
  ASSERT_TRUE(a->obs->wait_for([](const std::vector<dmon::cluster_member>& members) {
    return members.size() == 2 && !members[0].leaving && members[1].leaving;
  })) << a->obs->describe();
}

TEST(cluster_actor, an_unreachable_peer_is_retried_and_named_in_readiness) {
  // Nothing listens on port 1 of loopback: connects are refused at once.
  node lonely{"lonely", {{"127.0.0.1", 1}}};
  ASSERT_TRUE(lonely.obs->wait_for(ids_are({"lonely"})));
  dmon::cluster_status st;
  for (auto deadline = std::chrono::steady_clock::now() + guard_timeout;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    st = lonely.status();
    if (st.readiness.find("retry in") != std::string::npos)
      break;
  }
  EXPECT_FALSE(st.ready);
  EXPECT_NE(st.readiness.find("waiting for peers 127.0.0.1:1 (retry in"), std::string::npos)
      << st.readiness;
  ASSERT_EQ(st.peers.size(), 1u);
  EXPECT_NE(st.peers[0].find("127.0.0.1:1 down"), std::string::npos) << st.peers[0];
}

TEST(cluster_actor, a_node_alone_is_ready_and_its_own_only_member) {
  node solo{"solo", {}};
  ASSERT_TRUE(solo.obs->wait_for(ids_are({"solo"})));
  auto st = solo.status();
  EXPECT_TRUE(st.ready);
  EXPECT_EQ(st.readiness, "ready: 1 member (solo)");
}

TEST(cluster_actor, peers_come_from_dns_when_a_name_is_given) {
  node a{"a", {}};
  // A numeric name resolves without a DNS server; the path is the same as for a Service name.
  node b{"b", {}, "127.0.0.1", a.handle.port};
  for (auto* n : {&a, &b})
    ASSERT_TRUE(n->obs->wait_for(ids_are({"a", "b"}))) << n->id << " sees " << n->obs->describe();
  EXPECT_TRUE(b.status().ready) << b.status().readiness;
}
