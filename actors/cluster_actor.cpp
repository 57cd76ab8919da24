// Cluster actor: maps CAF events (connects, hellos, downs, timers) onto membership and tells the
// subscriber.
#include "cluster_actor.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "event.hpp"

namespace dmon {

namespace {

using self_ptr = cluster_actor::stateful_pointer<cluster_state>;
using clock = membership::clock;

std::string render(self_ptr self, const caf::error& err) {
  return self->system().render(err);
}

// This node's id, for log lines: several nodes may share one log (tests, local clusters).
const std::string& me(self_ptr self) {
  auto& st = self->state;
  return st.members ? st.members->self().node_id : st.opts.node_id;
}

hello_msg make_hello(self_ptr self) {
  auto& st = self->state;
  return {st.members->self(), caf::actor_cast<caf::actor>(self), st.peer, st.members->live()};
}

// Tells the subscriber the live list if it differs from what it was told last.
void notify(self_ptr self) {
  auto& st = self->state;
  std::vector<cluster_member> list;
  std::vector<std::tuple<std::string, uint64_t, bool>> ids;
  for (auto& m : st.members->live()) {
    caf::actor handle;
    if (m.node_id == st.members->self().node_id) {
      handle = st.peer;
    } else {
      auto r = st.remotes.find(m.node_id);
      if (r == st.remotes.end())
        continue;
      handle = r->second.peer;
    }
    bool leaving = st.members->leaving(m.node_id);
    ids.emplace_back(m.node_id, m.incarnation, leaving);
    list.push_back({m.node_id, m.incarnation, std::move(handle), leaving});
  }
  if (ids == st.notified)
    return;
  std::string names;
  for (auto& [id, inc, leaving] : ids)
    names += (names.empty() ? "" : ", ") + id + (leaving ? " (leaving)" : "");
  spdlog::info("cluster {}: {} live member(s): {}", me(self), ids.size(), names);
  st.notified = std::move(ids);
  if (st.subscriber)
    self->send(st.subscriber, members_atom::value, std::move(list));
}

void gossip(self_ptr self) {
  auto& st = self->state;
  auto live = st.members->live();
  auto& me = st.members->self();
  bool leaving = st.members->leaving(me.node_id);
  for (auto& [id, r] : st.remotes) {
    self->send(r.cluster, gossip_atom::value, live);
    // Repeated with every gossip, so a member that connected late learns it too.
    if (leaving)
      self->send(r.cluster, leaving_atom::value, me.node_id, me.incarnation);
  }
}

void log_readiness(self_ptr self) {
  auto& st = self->state;
  // Log transitions, not every countdown step of the same wait.
  auto line = st.members->ready() ? st.members->readiness(clock::now()) : std::string{"waiting"};
  if (line == st.last_readiness)
    return;
  st.last_readiness = line;
  spdlog::info("cluster {}: {}", me(self), st.members->readiness(clock::now()));
}

void dial_due(self_ptr self);

// A hello from `h.self`, on a connection we made to `ep` or one the peer made to us.
void on_hello(self_ptr self, hello_msg& h, const std::optional<peer_endpoint>& ep) {
  auto& st = self->state;
  auto now = clock::now();
  auto& local = st.members->self();
  if (h.self.node_id == local.node_id) {
    if (h.cluster != caf::actor_cast<caf::actor>(self))
      spdlog::error(
          "cluster {}: another node ({}) uses this node's id '{}'; give every node its own "
          "--node-id",
          me(self), h.self.endpoint, local.node_id);
    if (ep)
      st.members->connected(*ep, local, now);
    return;
  }
  bool changed = ep ? st.members->connected(*ep, h.self, now) : st.members->member_up(h.self, now);
  auto* live = st.members->find(h.self.node_id);
  if (live && live->incarnation == h.self.incarnation) {
    auto& r = st.remotes[h.self.node_id];
    if (r.incarnation != h.self.incarnation || !r.cluster)
      spdlog::info("cluster {}: member {} (incarnation {}) up at {}", me(self), h.self.node_id,
                   h.self.incarnation, h.self.endpoint);
    r.incarnation = h.self.incarnation;
    r.cluster = caf::actor_cast<cluster_actor>(h.cluster);
    r.peer = h.peer;
    auto addr = h.cluster.address();
    if (!st.monitored.count(addr))
      self->monitor(h.cluster);
    st.monitored[addr] = {h.self.node_id, h.self.incarnation};
    if (st.members->leaving(local.node_id))
      self->send(r.cluster, leaving_atom::value, local.node_id, local.incarnation);
  }
  for (auto& learned : st.members->merge(h.members, now))
    spdlog::info("cluster {}: learned peer {} from {}", me(self), learned.to_string(),
                 h.self.node_id);
  if (changed) {
    notify(self);
    gossip(self);
  }
  log_readiness(self);
  dial_due(self);
}

void dial(self_ptr self, peer_endpoint ep) {
  auto& st = self->state;
  auto failed = [self, ep](const std::string& reason) {
    auto& st = self->state;
    auto now = clock::now();
    st.members->connect_failed(ep, reason, now);
    for (auto& p : st.members->peers())
      if (p.endpoint == ep)
        spdlog::warn(
            "cluster {}: cannot reach peer {} ({}); retry in {} ms", me(self), ep.to_string(),
            reason,
            std::chrono::duration_cast<std::chrono::milliseconds>(p.next_attempt - now).count());
    log_readiness(self);
  };
  auto mm = self->system().middleman().actor_handle();
  // The middleman actor connects and shakes hands off this actor's thread; we only wait for
  // its answer, so a slow peer never blocks message handling here.
  self->request(mm, st.opts.connect_timeout, caf::connect_atom::value, ep.host, ep.port)
      .then(
          [self, ep, failed](caf::node_id& nid, caf::strong_actor_ptr& ptr,
                             std::set<std::string>& ifs) {
            auto& st = self->state;
            if (nid == self->system().node()) {
              st.members->connected(ep, st.members->self(), clock::now());
              return;
            }
            if (!ptr) {
              failed("nothing is published there; is it a dmon cluster port?");
              return;
            }
            if (ifs != self->system().message_types<cluster_actor>()) {
              failed(
                  "it speaks a different cluster protocol; run the same dmon version on every "
                  "node");
              return;
            }
            auto remote = caf::actor_cast<cluster_actor>(ptr);
            self->request(remote, st.opts.connect_timeout, hello_atom::value, make_hello(self))
                .then([self, ep](hello_msg& h) { on_hello(self, h, ep); },
                      [self, failed](caf::error& err) { failed("hello: " + render(self, err)); });
          },
          [self, failed](caf::error& err) { failed(render(self, err)); });
}

void dial_due(self_ptr self) {
  for (auto& ep : self->state.members->due(clock::now()))
    dial(self, std::move(ep));
}

void resolve(self_ptr self) {
  auto& st = self->state;
  if (st.resolving || st.opts.peers_dns.empty())
    return;
  st.resolving = true;
  auto target = caf::actor_cast<cluster_actor>(self);
  // getaddrinfo blocks; a short-lived detached actor keeps it off the scheduler's threads.
  self->system().spawn<caf::detached>([target, name = st.opts.peers_dns,
                                       port = st.opts.peers_dns_port
                                                  ? st.opts.peers_dns_port
                                                  : st.opts.port](caf::blocking_actor*) {
    auto r = resolve_peers(name, port);
    if (r)
      caf::anon_send(target, resolved_atom::value, std::move(*r), std::string{});
    else
      caf::anon_send(target, resolved_atom::value, std::vector<peer_endpoint>{}, r.error().message);
  });
}

void tick(self_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  if (!st.opts.peers_dns.empty() && now >= st.next_dns) {
    st.next_dns = now + st.opts.dns_interval;
    resolve(self);
  }
  if (now >= st.next_gossip) {
    st.next_gossip = now + st.opts.gossip_interval;
    gossip(self);
  }
  dial_due(self);
  self->delayed_send(self, st.opts.tick_interval, tick_atom::value);
}

}  // namespace

cluster_actor::behavior_type cluster(self_ptr self, cluster_options opts, caf::actor peer,
                                     cluster_subscriber_actor subscriber) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.peer = std::move(peer);
  st.subscriber = std::move(subscriber);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.monitored.find(dm.source);
    if (i == st.monitored.end())
      return;
    auto [node_id, incarnation] = i->second;
    st.monitored.erase(i);
    if (!st.members || !st.members->member_down(node_id, incarnation, clock::now()))
      return;
    spdlog::warn("cluster {}: member {} (incarnation {}) down: {}", me(self), node_id, incarnation,
                 render(self, dm.reason));
    if (auto r = st.remotes.find(node_id);
        r != st.remotes.end() && r->second.incarnation <= incarnation)
      st.remotes.erase(r);
    notify(self);
    gossip(self);
    log_readiness(self);
  });
  return {
      [self](hello_atom, hello_msg& h) -> caf::result<hello_msg> {
        if (!self->state.members)
          return caf::make_error(caf::sec::runtime_error, "cluster actor is still starting");
        on_hello(self, h, std::nullopt);
        return make_hello(self);
      },
      [self](gossip_atom, std::vector<member_info>& list) {
        auto& st = self->state;
        if (!st.members)
          return;
        for (auto& learned : st.members->merge(list, clock::now()))
          spdlog::info("cluster {}: learned peer {} from gossip", me(self), learned.to_string());
        dial_due(self);
      },
      [self](leaving_atom, const std::string& node_id, uint64_t incarnation) {
        auto& st = self->state;
        if (!st.members || !st.members->mark_leaving(node_id, incarnation))
          return;
        spdlog::info("cluster {}: member {} is leaving", me(self), node_id);
        notify(self);
      },
      [self](leave_atom) {
        auto& st = self->state;
        if (!st.members)
          return;
        auto& me_info = st.members->self();
        if (!st.members->mark_leaving(me_info.node_id, me_info.incarnation))
          return;
        spdlog::info("cluster {}: leaving; telling {} peer(s)", me(self), st.remotes.size());
        notify(self);
        gossip(self);
      },
      [self](status_atom) -> cluster_status {
        auto& st = self->state;
        cluster_status out;
        if (!st.members) {
          out.readiness = "starting";
          return out;
        }
        auto now = clock::now();
        out.ready = st.members->ready();
        out.readiness = st.members->readiness(now);
        out.members = st.members->live();
        for (auto& p : st.members->peers()) {
          auto line = p.endpoint.to_string() + " " + to_string(p.state);
          if (!p.node_id.empty())
            line += " " + p.node_id;
          if (!p.last_error.empty() && p.state != peer_state::up)
            line += " (" + p.last_error + ")";
          out.peers.push_back(std::move(line));
        }
        return out;
      },
      [self](start_atom, member_info& local) {
        auto& st = self->state;
        if (st.members)
          return;
        auto now = clock::now();
        st.members.emplace(local, st.opts.retry);
        if (!st.opts.peers_dns.empty())
          st.members->seeds_pending("from DNS name " + st.opts.peers_dns + " (no answer yet)");
        else
          st.members->set_seeds(st.opts.peers, now);
        spdlog::info("cluster {}: incarnation {} listening on {}, advertised as {}", me(self),
                     local.incarnation, st.opts.bind, local.endpoint);
        notify(self);
        tick(self);
        log_readiness(self);
      },
      [self](tick_atom) { tick(self); },
      [self](resolved_atom, std::vector<peer_endpoint>& eps, std::string& err) {
        auto& st = self->state;
        st.resolving = false;
        if (!err.empty()) {
          spdlog::warn("cluster {}: {}; retry in {} s", me(self), err,
                       st.opts.dns_interval.count() / 1000.0);
          // Keep the last good answer; only a node that never resolved waits on DNS.
          if (!st.members->ready() && st.members->peers().empty())
            st.members->seeds_pending("from DNS name " + st.opts.peers_dns + " (" + err + ")");
          log_readiness(self);
          return;
        }
        st.members->set_seeds(eps, clock::now());
        dial_due(self);
        log_readiness(self);
      },
  };
}

result<cluster_handle> start_cluster(caf::actor_system& sys, cluster_options opts, caf::actor peer,
                                     cluster_subscriber_actor subscriber) {
  if (!opts.advertise.empty())
    if (auto ep = parse_endpoint(opts.advertise, 0); !ep)
      return error{ec::bad_config, "--advertise: " + ep.error().message};
  auto bind = opts.bind;
  auto port = opts.port;
  auto actor = sys.spawn(cluster, opts, std::move(peer), std::move(subscriber));
  // SO_REUSEADDR: a restarted node must get its port back while old connections linger in
  // TIME_WAIT.
  auto bound = sys.middleman().publish(actor, port, bind.c_str(), true);
  if (!bound) {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return error{ec::unreachable, "cannot open the cluster port " + bind + ":" +
                                      std::to_string(port) + ": " + sys.render(bound.error()) +
                                      "; free the port or choose another with --peer-port "
                                      "(or another address with --bind)"};
  }
  auto mm = sys.middleman().actor_handle();
  actor->attach_functor([mm, addr = actor.address(), p = *bound] {
    // Stop accepting peers for a cluster actor that is gone.
    caf::anon_send(mm, caf::unpublish_atom::value, addr, p);
  });
  member_info me{opts.node_id, opts.incarnation, opts.advertise};
  if (me.endpoint.empty())
    me.endpoint = peer_endpoint{bind, *bound}.to_string();
  if (me.node_id.empty())
    me.node_id = me.endpoint;
  if (me.incarnation == 0)
    me.incarnation = static_cast<uint64_t>(now_micros());
  caf::anon_send(actor, start_atom::value, me);
  return cluster_handle{actor, *bound, me.node_id};
}

void register_cluster_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<peer_endpoint>("dmon.peer_endpoint");
  cfg.add_message_type<std::vector<peer_endpoint>>("std::vector<dmon.peer_endpoint>");
  cfg.add_message_type<member_info>("dmon.member_info");
  cfg.add_message_type<std::vector<member_info>>("std::vector<dmon.member_info>");
  cfg.add_message_type<hello_msg>("dmon.hello_msg");
  cfg.add_message_type<cluster_member>("dmon.cluster_member");
  cfg.add_message_type<std::vector<cluster_member>>("std::vector<dmon.cluster_member>");
  cfg.add_message_type<cluster_status>("dmon.cluster_status");
}

void set_cluster_heartbeat(caf::actor_system_config& cfg, std::chrono::milliseconds interval,
                           std::chrono::milliseconds timeout) {
  cfg.set("middleman.heartbeat-interval", caf::timespan{interval});
  cfg.set("middleman.connection-timeout", caf::timespan{timeout});
}

void ask_cluster_status(caf::actor_system& sys, const cluster_actor& actor,
                        std::chrono::milliseconds timeout,
                        std::function<void(result<cluster_status>)> done) {
  sys.spawn([actor, timeout, done = std::move(done)](caf::event_based_actor* self) {
    self->request(actor, timeout, status_atom::value)
        .then(
            [self, done](cluster_status& st) {
              done(std::move(st));
              self->quit();
            },
            [self, done, timeout](caf::error& err) {
              done(error{ec::unreachable, "cluster status did not answer in " +
                                              std::to_string(timeout.count()) +
                                              " ms: " + self->system().render(err)});
              self->quit();
            });
  });
}

}  // namespace dmon
