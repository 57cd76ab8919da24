// The composition root: spawn order, listener start-up, periodic stats, and shutdown.
#include "node.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "cluster_actor.hpp"
#include "cluster_link.hpp"
#include "cluster_query.hpp"
#include "cluster_report.hpp"
#include "counters.hpp"
#include "http_server.hpp"
#include "index.hpp"
#include "keeper_actor.hpp"
#include "metrics.hpp"
#include "ownership.hpp"
#include "parser_actor.hpp"
#include "pubsub.hpp"
#include "python_host.hpp"
#include "query/query.hpp"
#include "reaper_actor.hpp"
#include "regroup.hpp"
#include "router_actor.hpp"
#include "storage_actor.hpp"
#include "store.hpp"
#include "stream_actor.hpp"
#include "stream_host.hpp"
#include "tcp_listener.hpp"
#include "udp_listener.hpp"

namespace dmon {

namespace {

using namespace std::chrono;

// Events per page of a query answer: one HTTP chunk of GET /index (about 300 bytes of JSON
// each), or one stretch of a TCP reply encoded outside the index lock.
constexpr size_t query_page_events = 1024;

milliseconds millis(double seconds) {
  return milliseconds{static_cast<int64_t>(seconds * 1000)};
}

std::vector<std::string> python_paths(const config& cfg) {
  std::vector<std::string> paths;
  std::string rest = cfg.python_path;
  while (!rest.empty()) {
    auto colon = rest.find(':');
    auto part = rest.substr(0, colon);
    if (!part.empty())
      paths.push_back(part);
    rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  paths.push_back(DMON_PYTHON_DIR);
  paths.push_back(std::string{DMON_PYTHON_DIR} + "/examples");
  return paths;
}

// Waits for SIGINT/SIGTERM, waking every `period` to run `on_wake`.
int wait_for_signal(milliseconds period, const std::function<void()>& on_wake) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  for (;;) {
    timespec ts{static_cast<time_t>(period.count() / 1000),
                static_cast<long>((period.count() % 1000) * 1'000'000)};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM)
      return sig;
    on_wake();
  }
}

void log_stats(const std::vector<listener_counters*>& listeners,
               const std::vector<std::unique_ptr<shard_counters>>& shards, const store& db,
               const router_counters& routing) {
  for (auto* l : listeners)
    spdlog::info(
        "stats {}: messages={} bytes={} events_accepted={} rejected={} too_large={} "
        "dropped_events={} dropped_datagrams={} connections={}",
        l->name, l->messages.load(), l->bytes.load(), l->events_accepted.load(),
        l->messages_rejected.load(), l->too_large.load(), l->dropped_events.load(),
        l->dropped_datagrams.load(), l->connections.load());
  for (size_t i = 0; i < shards.size(); ++i) {
    auto& s = *shards[i];
    spdlog::info(
        "stats shard {}: events_in={} stream_exceptions={} child_exceptions={} skipped={} "
        "rebuilds={} indexed={} write_failures={} reinjected={}",
        i, s.events_in.load(), s.root_exceptions.load(), s.child_exceptions.load(),
        s.skipped.load(), s.rebuilds.load(), s.indexed.load(), s.index_failures.load(),
        s.reinjected.load());
    if (s.regrouped_out.load() + s.regrouped_in.load() > 0)
      spdlog::info("stats shard {}: regrouped_out={} regrouped_in={} regroup_unknown={}", i,
                   s.regrouped_out.load(), s.regrouped_in.load(), s.regroup_unknown.load());
  }
  spdlog::info("stats index: size={}", db.size());
  spdlog::info(
      "stats cluster: forwarded_out={} forwarded_in={} forward_failures={} replicated_out={} "
      "replicated_in={} replication_failures={} handed_off_out={} handed_off_in={} "
      "handoff_failures={} handoff_unplaced={} promoted={} replicas_held={}",
      routing.forwarded_out.load(), routing.forwarded_in.load(), routing.forward_failures.load(),
      routing.replicated_out.load(), routing.replicated_in.load(),
      routing.replication_failures.load(), routing.handed_off_out.load(),
      routing.handed_off_in.load(), routing.handoff_failures.load(),
      routing.handoff_unplaced.load(), routing.promoted.load(), routing.replicas_held.load());
}

std::string local_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0)
    return "localhost";
  return buf;
}

// Runs one batch through the router for a caller outside the actor system (HTTP) and reports
// one outcome per event, without blocking the caller's thread.
void ingest_async(caf::actor_system& sys, const router_actor& router, std::vector<event> events,
                  std::function<void(std::vector<std::string>)> done) {
  sys.spawn([router, events = std::move(events),
             done = std::move(done)](caf::event_based_actor* self) mutable {
    auto n = events.size();
    self->request(router, caf::infinite, ingest_atom::value, std::move(events))
        .then(
            [=](uint64_t) {
              done(std::vector<std::string>(n));
              self->quit();
            },
            [=](caf::error& err) {
              done(std::vector<std::string>(n, "not processed: " + self->system().render(err)));
              self->quit();
            });
  });
}

}  // namespace

result<std::vector<event>> query_index(const index& idx, const std::string& text) {
  // Riemann answers an absent or empty expression with no states.
  if (text.find_first_not_of(" \t\r\n,") == std::string::npos)
    return std::vector<event>{};
  auto pred = query::parse_cached(text);
  if (!pred)
    return pred.error();
  return idx.select(*pred);
}

result<size_t> visit_index(const index& idx, const std::string& text,
                           const std::function<void(const event&)>& fn) {
  if (text.find_first_not_of(" \t\r\n,") == std::string::npos)
    return size_t{0};
  auto pred = query::parse_cached(text);
  if (!pred)
    return pred.error();
  // Page by page, so `fn` (the reply encoder) runs outside the index lock and a
  // big answer never holds up the writers for the whole encoding.
  index::cursor at;
  std::vector<event> page;
  size_t n = 0;
  for (bool more = true; more;) {
    page.clear();
    more = idx.page(*pred, at, query_page_events, page);
    for (auto& e : page)
      fn(e);
    n += page.size();
  }
  return n;
}

result<std::function<bool(std::vector<event>&)>> page_index(const index& idx,
                                                            const std::string& text,
                                                            size_t page_size) {
  using pager = std::function<bool(std::vector<event>&)>;
  if (text.find_first_not_of(" \t\r\n,") == std::string::npos)
    return pager{[](std::vector<event>&) { return false; }};
  auto pred = query::parse_cached(text);
  if (!pred)
    return pred.error();
  return pager{[&idx, page_size, p = std::move(*pred), at = index::cursor{}](
                   std::vector<event>& out) mutable { return idx.page(p, at, page_size, out); }};
}

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int run_node(const config& cfg) {
  // Logs go to stderr; stdout carries only the "dmond ready" line that scripts wait for.
  spdlog::set_default_logger(spdlog::stderr_color_mt("dmond"));
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  std::error_code fs_err;
  std::filesystem::create_directories(cfg.data_dir, fs_err);
  if (fs_err) {
    spdlog::error("node: cannot create data directory '{}': {}; set --data-dir to a writable path",
                  cfg.data_dir, fs_err.message());
    return 2;
  }

  store_options db_opts;
  db_opts.path = cfg.data_dir;
  db_opts.sync = cfg.sync_writes;
  db_opts.default_ttl = cfg.default_ttl;
  db_opts.history_max_age =
      std::chrono::microseconds{static_cast<int64_t>(cfg.history_max_age * 1e6)};
  db_opts.history_max_bytes = cfg.history_max_bytes;
  db_opts.checkpoint_interval = millis(cfg.index_checkpoint_interval);
  auto opened = store::open(db_opts);
  if (!opened) {
    spdlog::error("node: {}", opened.error().message);
    return 2;
  }
  std::unique_ptr<store> db = std::move(*opened);
  spdlog::info("node: data in {} opened: {} index entries in {} ms", cfg.data_dir,
               db->opened().index_entries, db->opened().open_time.count() / 1000);

  python_host python{python_paths(cfg)};
  // Outlives the streams (publish sinks) and the HTTP server (subscribers).
  pubsub hub;

  // Shared by the router, keeper, reaper, sinks and HTTP: the view, the outbox, counters.
  cluster_link link{cfg.cluster_outbox_events, static_cast<size_t>(cfg.replication)};
  const index& memory = db->memory();

  // The router does not exist yet when the streams load; sinks reach it through this slot.
  auto router_slot = std::make_shared<router_actor>();
  std::vector<std::unique_ptr<shard_counters>> shard_stats;
  std::vector<std::unique_ptr<shard_writes>> writes;
  std::vector<std::unique_ptr<stream_host>> hosts;
  for (int shard = 0; shard < cfg.shards; ++shard) {
    auto* counters = shard_stats.emplace_back(std::make_unique<shard_counters>()).get();
    auto* pending = writes.emplace_back(std::make_unique<shard_writes>()).get();
    stream_sinks sinks;
    // In a cluster an index write lands on the owner of the written event's own key (a
    // stream's output may be keyed differently from its input), and copies go to replicas.
    sinks.index = [pending, &link, &memory](event&& e) {
      if (!link.clustered()) {
        auto hash = index_key::hash(e);
        pending->index.emplace_back(hash, std::move(e));
        return;
      }
      auto snap = link.get();
      // Stamped here, so the owner, its replicas and later handoffs hold one time.
      e = memory.prepare(std::move(e), now_micros());
      if (!snap->view.owns(ownership::key_hash(e))) {
        link.outbox.push_foreign(std::move(e));
        return;
      }
      if (link.replication > 1)
        link.outbox.push_replicate(e);
      auto hash = index_key::hash(e);
      pending->index.emplace_back(hash, std::move(e));
    };
    sinks.store = [pending](event&& e) { pending->history.push_back(std::move(e)); };
    sinks.publish = [&hub](const std::string& topic, event e) { hub.publish(topic, e); };
    sinks.reinject = [router_slot, counters](event e) {
      counters->reinjected.fetch_add(1, std::memory_order_relaxed);
      caf::anon_send(*router_slot, ingest_atom::value, std::vector<event>{std::move(e)});
    };
    sinks.regroup = [pending](const std::string& address, const std::vector<std::string>& fields,
                              event e) {
      auto h = regroup::key_hash(fields, e);
      pending->regrouped.push_back({address, h, std::move(e)});
    };
    auto host = stream_host::load({cfg.streams, shard, cfg.python_settings()}, std::move(sinks));
    if (!host) {
      spdlog::error("node: {}", host.error().message);
      return 2;
    }
    if (shard == 0)
      spdlog::info("node: stream module '{}' loaded with root streams: {}", cfg.streams,
                   fmt::join((*host)->stream_names(), ", "));
    hosts.push_back(std::move(*host));
  }

  caf::actor_system_config sys_cfg;
  sys_cfg.load<caf::io::middleman>();
  register_cluster_types(sys_cfg);
  set_cluster_heartbeat(sys_cfg, std::chrono::seconds{1}, std::chrono::seconds{10});
  // An idle CAF worker polls its queue in 50 µs sleeps for 25 ms before it waits on a
  // condition variable that an enqueue signals. Those wake-ups cost 15-28 % of a node's CPU
  // under a small CPU quota (docs/performance.md, cluster scaling), more in a cluster, where
  // workers idle between a forward and its answer: skip the sleeping polls.
  sys_cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  // A message from a peer is deserialized on the middleman's thread instead of being copied
  // to a BASP worker that a scheduler thread must wake for: one thread wake-up and one copy
  // fewer per forward, index write or answer (docs/performance.md, the CAF hop's floor).
  sys_cfg.set("middleman.workers", size_t{0});
  caf::actor_system sys{sys_cfg};

  // Node-wide latency figures, observed by the actors and rendered on /metrics.
  latency_histogram stream_latency, write_latency, ack_latency;
  // The one index/history writer: shards hand it their writes and go on with the next batch.
  storage_context storage_ctx;
  storage_ctx.db = db.get();
  storage_ctx.hub = &hub;
  storage_ctx.write_latency = &write_latency;
  for (auto& c : shard_stats)
    storage_ctx.counters.push_back(c.get());
  for (auto& w : writes)
    storage_ctx.unanswered.push_back(&w->unanswered);
  storage_ctx.settings.max_events = cfg.commit_max_events;
  storage_ctx.settings.delay =
      std::chrono::microseconds{static_cast<int64_t>(cfg.commit_delay * 1e6)};
  // The shards' own writes use the same context; it outlives them (they stop before return).
  const storage_context inline_ctx = storage_ctx;
  auto storage_handle = sys.spawn<caf::detached>(storage, std::move(storage_ctx));
  std::vector<stream_actor> shards;
  for (int shard = 0; shard < cfg.shards; ++shard) {
    shard_context ctx;
    ctx.stream_latency = &stream_latency;
    ctx.shard = shard;
    ctx.db = db.get();
    ctx.storage = storage_handle;
    ctx.write_inline = cfg.inline_writes ? &inline_ctx : nullptr;
    ctx.counters = shard_stats[shard].get();
    ctx.writes = writes[shard].get();
    ctx.checkpoint_key = checkpoint_key(shard, cfg.shards);
    ctx.tick = millis(cfg.tick_interval);
    ctx.checkpoint_every = millis(cfg.checkpoint_interval);
    ctx.router = router_slot;
    shards.push_back(sys.spawn<caf::detached>(stream, std::move(hosts[shard]), std::move(ctx)));
  }
  const router_counters& routing = link.counters;
  *router_slot = sys.spawn(router, shards, &link);
  std::atomic<uint64_t> expired_total{0};
  auto reaper_handle =
      sys.spawn(reaper, db.get(), &hub, &expired_total, *router_slot, millis(cfg.reap_interval),
                keep_keys{cfg.expired_keep_keys}, &link);
  bool clustered = !cfg.peers.empty() || !cfg.peers_dns.empty();
  // On SIGTERM: how long concurrent leavers get to announce themselves, and how long this
  // node keeps retrying to hand its entries to staying members.
  auto leave_settle = millis(cfg.leave_settle);
  auto leave_deadline = millis(cfg.leave_deadline);
  keeper_actor keeper_handle;
  if (clustered) {
    keeper_options kopts;
    kopts.rebalance_every = millis(cfg.rebalance_interval);
    kopts.tombstone_horizon = std::chrono::seconds{static_cast<int64_t>(cfg.tombstone_horizon)};
    kopts.leave_deadline = leave_deadline;
    keeper_handle =
        sys.spawn<caf::detached>(keeper, db.get(), &hub, &link, *router_slot, kopts, shards);
    link.local_keeper = caf::actor_cast<caf::actor>(keeper_handle);
  }

  std::optional<cluster_handle> cluster;
  // Start-up failed after the actors exist: end them, or the actor system waits forever.
  auto stop_actors = [&] {
    if (cluster)
      caf::anon_send_exit(cluster->actor, caf::exit_reason::user_shutdown);
    if (keeper_handle)
      caf::anon_send_exit(keeper_handle, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(reaper_handle, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(*router_slot, caf::exit_reason::user_shutdown);
    for (auto& s : shards)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
    // The link and the router slot outlive the actor system: a handle they keep would hold a
    // detached actor's thread (the keeper's) waiting for its last reference, and
    // ~actor_system waiting for that thread (dmond hung when the cluster port was taken).
    link.local_keeper = nullptr;
    link.set(std::make_shared<const cluster_link::snapshot>());
    *router_slot = nullptr;
  };

  // A cluster only when peers are configured: a lone node opens no cluster port.
  if (clustered) {
    auto peers = parse_peers(cfg.peers, cfg.peer_port);
    if (!peers) {
      spdlog::error("node: --peers: {}", peers.error().message);
      stop_actors();
      return 2;
    }
    cluster_options copts;
    copts.node_id = cfg.node_id;
    copts.bind = cfg.bind;
    copts.port = cfg.peer_port;
    copts.advertise = cfg.advertise;
    copts.peers = std::move(*peers);
    copts.peers_dns = cfg.peers_dns;
    // Peers talk to the keeper; the router learns the members and tells the keeper.
    auto started = start_cluster(sys, copts, link.local_keeper,
                                 caf::actor_cast<cluster_subscriber_actor>(*router_slot));
    if (!started) {
      spdlog::error("node: {}", started.error().message);
      stop_actors();
      return 2;
    }
    cluster = std::move(*started);
    spdlog::info("node: cluster node '{}' on port {}", cluster->node_id, cluster->port);
  }

  const index& idx = db->memory();
  auto local_query = [&idx](const std::string& text) { return query_index(idx, text); };
  // TCP answers. Alone, straight from the index page by page (no copy of every match); in a
  // cluster, every member's share merged (the node's own index when it is alone), then encoded.
  query_function query = [&idx](const std::string& text, const query_visitor& fn) {
    return visit_index(idx, text, fn);
  };
  // Asked from an I/O thread or a parser actor, answered later from the gathering actor:
  // a silent member costs the asking client the timeout, never a thread.
  auto ask_cluster = [&, timeout = millis(cfg.cluster_query_timeout)](
                         const std::string& text, std::function<void(query_answer)> done) {
    cluster_query(sys, link, text, timeout, local_query, std::move(done));
  };
  if (clustered)
    query = query_function::answered_later(ask_cluster);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  auto endpoint = [&](const char* proto, uint16_t port) {
    return std::string{proto} + " " + cfg.bind + ":" + std::to_string(port);
  };
  listener_counters tcp_stats, udp_stats, json_stats;
  tcp_stats.ack_latency = &ack_latency;
  // Optional so that they (and their parser actors) go away before the actor system waits.
  std::optional<tcp_listener> tcp;
  std::optional<udp_listener> udp, json;
  std::optional<http_server> http;
  auto close_listeners = [&] {
    http.reset();
    if (udp)
      udp->close();
    if (json)
      json->close();
    tcp.reset();
    udp.reset();
    json.reset();
  };
  // Alone, listeners hand their events straight to the shards; in a cluster, to the router.
  ingest_targets ingest_to{*router_slot, shards, &link};
  tcp.emplace(io, sys, ingest_to, query,
              tcp_listener::options{cfg.max_frame_bytes, cfg.max_inflight_frames}, tcp_stats);
  udp.emplace(io, sys, ingest_to,
              udp_listener::options{datagram_format::protobuf, cfg.max_datagram_bytes,
                                    cfg.udp_queue_events},
              udp_stats);
  json.emplace(
      io, sys, ingest_to,
      udp_listener::options{datagram_format::json, cfg.max_datagram_bytes, cfg.udp_queue_events},
      json_stats);
  auto tcp_port = tcp->listen(cfg.bind, cfg.tcp_port);
  auto udp_port = udp->listen(cfg.bind, cfg.udp_port);
  auto json_port = json->listen(cfg.bind, cfg.json_udp_port);
  for (auto* r : {&tcp_port, &udp_port, &json_port}) {
    if (!*r) {
      spdlog::error("node: {}", r->error().message);
      close_listeners();
      stop_actors();
      return 2;
    }
  }
  tcp_stats.name = endpoint("tcp", *tcp_port);
  udp_stats.name = endpoint("udp", *udp_port);
  json_stats.name = endpoint("json-udp", *json_port);

  std::atomic<bool> serving{false};
  auto take_snapshot = [&] {
    metrics_snapshot s;
    s.time_us = now_micros();
    s.listeners.push_back(snapshot_of(tcp_stats, cfg.max_inflight_frames));
    s.listeners.push_back(snapshot_of(udp_stats, cfg.udp_queue_events));
    s.listeners.push_back(snapshot_of(json_stats, cfg.udp_queue_events));
    if (http) {
      s.listeners.push_back(snapshot_of(http->ingest_counters()));
      s.http = http->stats();
    }
    for (size_t i = 0; i < shard_stats.size(); ++i)
      s.shards.push_back(snapshot_of(static_cast<int>(i), *shard_stats[i]));
    s.index_size = db->size();
    s.expired = expired_total.load(std::memory_order_relaxed);
    s.process = read_process();
    s.histograms.push_back(stream_latency.snapshot(
        "dmon_stream_event_duration_seconds",
        "Time one event spends in the streams (a batch's time over its size).", {},
        "streams latency"));
    s.histograms.push_back(write_latency.snapshot(
        "dmon_index_write_duration_seconds",
        "Time to write one batch of index updates to RocksDB (WAL included)."));
    s.histograms.push_back(ack_latency.snapshot(
        "dmon_tcp_ack_duration_seconds",
        "From frames read to their answers ready: decode, streams, index write.", {},
        "server tcp " + tcp_stats.name.substr(4) + " in latency"));
    return s;
  };
  http_handlers handlers;
  // Readiness and /cluster come from the cluster actor. They are asked from a short-lived
  // actor and answered when it replies (or after 2 s): the HTTP I/O thread serves other
  // requests meanwhile, even while the cluster actor cannot run (CAF's workers all busy).
  constexpr auto status_timeout = std::chrono::milliseconds{2000};
  handlers.ready = [&](http_handlers::ready_callback done) {
    if (!serving.load())
      return done({false, "starting: listeners are not open yet"});
    if (!cluster)
      return done({true, "ok"});
    ask_cluster_status(sys, cluster->actor, status_timeout,
                       [done = std::move(done)](result<cluster_status> st) {
                         if (!st)
                           return done({false, st.error().message});
                         done({st->ready, st->readiness});
                       });
  };
  handlers.metrics = [&] {
    auto text = render_prometheus(take_snapshot());
    if (clustered)
      text += cluster_prometheus(link);
    return text;
  };
  handlers.query = local_query;
  if (clustered)
    handlers.query_later = ask_cluster;
  handlers.local_query = local_query;
  // Streamed answers read this node's index page by page: all of the answer alone, only
  // `scope=local` in a cluster (a cluster-wide answer is merged in memory first).
  handlers.local_query_pages = [&idx](const std::string& text) {
    return page_index(idx, text, query_page_events);
  };
  if (!clustered)
    handlers.query_pages = handlers.local_query_pages;
  if (clustered)
    handlers.cluster = [&](http_handlers::body_callback done) {
      ask_cluster_status(sys, cluster->actor, status_timeout,
                         [&link, &db, done = std::move(done)](result<cluster_status> st) {
                           done(cluster_json(link, st ? &*st : nullptr, db->size()));
                         });
    };
  handlers.history = [&db](const std::string& text, int64_t from, int64_t to,
                           size_t limit) -> result<std::vector<event>> {
    std::optional<query::predicate> filter;
    if (text.find_first_not_of(" \t\r\n,") != std::string::npos) {
      auto pred = query::parse_cached(text);
      if (!pred)
        return pred.error();
      filter = std::move(*pred);
    }
    return db->history(from, to, filter ? &*filter : nullptr, limit);
  };
  handlers.ingest = [&sys, router = *router_slot](
                        std::vector<event> events,
                        std::function<void(std::vector<std::string>)> done) {
    ingest_async(sys, router, std::move(events), std::move(done));
  };
  http.emplace(cfg.bind, cfg.http_port,
               http_server::options{.max_body_bytes = cfg.http_max_body_bytes,
                                    .max_subscribers = cfg.http_max_subscribers,
                                    .subscriber_queue = cfg.http_subscriber_queue,
                                    .static_dir = cfg.http_web_dir},
               std::move(handlers), hub);
  auto http_port = http->listen();
  if (!http_port) {
    spdlog::error("node: {}", http_port.error().message);
    close_listeners();
    stop_actors();
    return 2;
  }

  std::vector<std::thread> io_threads;
  for (int i = 0; i < cfg.io_threads; ++i)
    io_threads.emplace_back([&io] { io.run(); });

  // Tests and scripts wait for this line; it names the real ports (useful with port 0).
  std::cout << "dmond ready: tcp=" << cfg.bind << ":" << *tcp_port << " udp=" << cfg.bind << ":"
            << *udp_port << " json-udp=" << cfg.bind << ":" << *json_port << " http=" << cfg.bind
            << ":" << *http_port;
  if (cluster)
    std::cout << " peer=" << cfg.bind << ":" << cluster->port << " node=" << cluster->node_id;
  std::cout << " streams=" << cfg.streams << " shards=" << cfg.shards << std::endl;
  serving = true;
  spdlog::info("node: serving {}, {}, {}, http {}:{} with {} shard(s); data in {}", tcp_stats.name,
               udp_stats.name, json_stats.name, cfg.bind, *http_port, cfg.shards, cfg.data_dir);

  std::vector<listener_counters*> listeners{&tcp_stats, &udp_stats, &json_stats};
  auto next_stats = steady_clock::now() + millis(cfg.stats_interval);
  auto next_instrumentation = steady_clock::now() + millis(cfg.instrumentation_interval);
  std::optional<metrics_snapshot> previous;
  instrumentation_options own_events{cfg.hostname.empty() ? local_hostname() : cfg.hostname,
                                     cfg.instrumentation_interval};
  int sig = wait_for_signal(milliseconds{500}, [&] {
    auto now = steady_clock::now();
    if (cfg.stats_interval > 0 && now >= next_stats) {
      log_stats(listeners, shard_stats, *db, routing);
      next_stats = now + millis(cfg.stats_interval);
    }
    // dmon's own figures go through the streams like any event, so users alert on them.
    if (cfg.instrumentation_interval > 0 && now >= next_instrumentation) {
      auto snap = take_snapshot();
      auto events = instrumentation_events(snap, previous ? &*previous : nullptr, own_events);
      if (clustered)
        for (auto& e :
             cluster_events(link, own_events.host, cfg.instrumentation_interval, snap.time_us))
          events.push_back(std::move(e));
      if (!events.empty())
        caf::anon_send(*router_slot, ingest_atom::value, std::move(events));
      previous = std::move(snap);
      next_instrumentation = now + millis(cfg.instrumentation_interval);
    }
  });

  spdlog::info("node: {} received; draining (up to {} s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               cfg.drain_timeout);
  serving = false;
  // Announce the leave: peers route this node's keys to staying members at once and stop
  // choosing it as an owner, replica or handoff target; it stays a member (queried, and
  // passing on what still reaches it) until its entries have a new home.
  auto announced = steady_clock::now();
  if (cluster)
    caf::anon_send(cluster->actor, leave_atom::value);
  http->stop();
  tcp->drain();
  udp->stop();
  json->stop();
  auto deadline = steady_clock::now() + millis(cfg.drain_timeout);
  auto drained = [&] {
    return tcp->open_connections() == 0 && udp_stats.queued.load() == 0 &&
           json_stats.queued.load() == 0 && udp_stats.inflight_events.load() == 0 &&
           json_stats.inflight_events.load() == 0;
  };
  while (!drained() && steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  bool clean = drained();
  if (!clean)
    spdlog::error("node: drain timed out with {} connection(s) open; exiting anyway",
                  tcp->open_connections());
  work.reset();
  io.stop();
  for (auto& t : io_threads)
    t.join();
  close_listeners();

  // The streams finish what reached them before the checkpoint request (mailboxes are FIFO).
  caf::anon_send_exit(reaper_handle, caf::exit_reason::user_shutdown);
  {
    caf::scoped_actor self{sys};
    for (auto& s : shards)
      self->request(s, std::chrono::seconds{30}, checkpoint_atom::value)
          .receive([](bool) {},
                   [&](caf::error& err) {
                     spdlog::error("node: final checkpoint failed: {}", sys.render(err));
                   });
    // The shards' last timer writes are in the storage actor's mailbox before this.
    self->request(storage_handle, std::chrono::seconds{30}, flush_atom::value)
        .receive(
            [](bool ok) {
              if (!ok)
                spdlog::error("node: the last index writes failed (see above)");
            },
            [&](caf::error& err) {
              spdlog::error("node: last index writes failed: {}", sys.render(err));
            });
  }
  // A planned leave: every index entry goes to its owner among the staying members before
  // this node stops (the peers already route its keys there and hold replicas; newer
  // copies win). Members stopped at the same time (a scale-down by two) announce it too:
  // give their announcements a moment to arrive so that no entry is handed to one of
  // them; one that arrives later is caught by the leaver passing entries on.
  if (keeper_handle) {
    auto settle = announced + leave_settle;
    while (steady_clock::now() < settle)
      std::this_thread::sleep_for(20ms);
    caf::scoped_actor self{sys};
    self->request(keeper_handle, leave_deadline + 5s, leave_atom::value)
        .receive([](uint64_t n) { spdlog::info("node: handed {} index entries to peers", n); },
                 [&](caf::error& err) {
                   spdlog::error("node: handoff on leave failed: {}", sys.render(err));
                 });
  }
  // Now peers see the member go.
  if (cluster)
    caf::anon_send_exit(cluster->actor, caf::exit_reason::user_shutdown);
  if (keeper_handle) {
    caf::anon_send_exit(keeper_handle, caf::exit_reason::user_shutdown);
    keeper_handle = nullptr;
    link.local_keeper = nullptr;
  }
  caf::anon_send_exit(*router_slot, caf::exit_reason::user_shutdown);
  for (auto& s : shards)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(storage_handle, caf::exit_reason::user_shutdown);
  shards.clear();
  // The view holds strong handles to every member's keeper; the actor system cannot
  // shut down while they live.
  link.set(std::make_shared<const cluster_link::snapshot>());
  storage_handle = nullptr;
  *router_slot = nullptr;
  reaper_handle = nullptr;
  sys.await_all_actors_done();
  if (auto flushed = db->flush(); !flushed)
    spdlog::error("node: final flush failed: {}", flushed.error().message);
  log_stats(listeners, shard_stats, *db, routing);
  spdlog::info("node: stopped");
  return clean ? 0 : 1;
}

}  // namespace dmon
