// Flags, DMON_* variables and the config file, mapped onto dmon::config with CLI11.
#include "config.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>

namespace dmon {

std::map<std::string, std::string> config::python_settings() const {
  return {{"smtp_host", smtp_host},
          {"smtp_port", std::to_string(smtp_port)},
          {"smtp_from", smtp_from},
          {"default_ttl", std::to_string(default_ttl)},
          {"native_streams", native_streams ? "true" : "false"}};
}

result<config> parse_config(int argc, char** argv, std::string& help) {
  config c;
  CLI::App app{"dmond: a Riemann-compatible event stream processor running Python streams",
               "dmond"};
  app.set_config("--config", "", "read settings from a file (see deploy/dmon.conf)");
  app.set_version_flag("--version", "dmond 0.1.0");
  // Each flag is also read from DMON_<FLAG>, upper-cased with '-' as '_'.
  auto opt = [&](const std::string& name, auto& field, const std::string& desc) {
    std::string env = "DMON_" + name;
    for (auto& ch : env)
      ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    return app.add_option("--" + name, field, desc)->envname(env)->capture_default_str();
  };
  opt("bind", c.bind, "address every listener binds");
  opt("tcp-port", c.tcp_port, "Riemann protobuf over TCP (0: any free port)");
  opt("udp-port", c.udp_port, "Riemann protobuf over UDP (0: any free port)");
  opt("json-udp-port", c.json_udp_port, "JSON event datagrams (0: any free port)");
  opt("http-port", c.http_port, "HTTP API, metrics, WebSocket/SSE (0: any free port)");
  opt("http-web-dir", c.http_web_dir, "folder of the dashboard's static files (GET /)");
  opt("http-max-body-bytes", c.http_max_body_bytes, "largest HTTP body or WebSocket message")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  opt("http-max-subscribers", c.http_max_subscribers, "WebSocket/SSE subscribers at once")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  opt("http-subscriber-queue", c.http_subscriber_queue,
      "events queued for one subscriber before it is dropped as too slow")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  opt("peers", c.peers, "cluster peers, host:port,... (empty: a single node)");
  opt("peers-dns", c.peers_dns, "DNS name whose addresses are the cluster peers");
  opt("peer-port", c.peer_port, "cluster port (CAF middleman; 0: any free port)");
  opt("node-id", c.node_id, "this node's stable id in the cluster (default: advertise)");
  opt("advertise", c.advertise, "host:port peers dial to reach this node (default: bind:port)");
  opt("replication", c.replication, "copies of each index entry in a cluster (1: no replicas)")
      ->check(CLI::Range(1, 8));
  opt("cluster-query-timeout", c.cluster_query_timeout,
      "seconds a cluster-wide query waits for other members")
      ->check(CLI::PositiveNumber);
  opt("rebalance-interval", c.rebalance_interval,
      "seconds between passes moving non-owned index entries to their owners")
      ->check(CLI::PositiveNumber);
  opt("leave-settle", c.leave_settle,
      "seconds a leaving node waits for other leavers' announcements before its handoff")
      ->check(CLI::Range(0.0, 600.0));
  opt("leave-deadline", c.leave_deadline,
      "seconds a leaving node retries handing its index entries to staying members")
      ->check(CLI::Range(0.0, 3600.0));
  opt("tombstone-horizon", c.tombstone_horizon,
      "seconds a deleted key's tombstone keeps older copies of it from coming back")
      ->check(CLI::PositiveNumber);
  opt("cluster-outbox-events", c.cluster_outbox_events,
      "events queued for replicas and owners before they are dropped")
      ->check(CLI::PositiveNumber);
  opt("max-frame-bytes", c.max_frame_bytes, "largest TCP frame accepted")
      ->check(CLI::Range(size_t{16}, size_t{1} << 31));
  opt("max-datagram-bytes", c.max_datagram_bytes, "largest UDP datagram accepted")
      ->check(CLI::Range(size_t{64}, size_t{65507}));
  opt("max-inflight-frames", c.max_inflight_frames,
      "unanswered frames per TCP connection before reading pauses")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  opt("udp-queue-events", c.udp_queue_events, "UDP events queued before datagrams are dropped")
      ->check(CLI::Range(size_t{1}, size_t{1} << 26));
  opt("io-threads", c.io_threads, "threads for sockets and decoding")->check(CLI::Range(1, 64));
  opt("data-dir", c.data_dir, "data directory");
  opt("streams", c.streams, "Python module holding the root streams")
      ->envname("DMON_STREAM_MODULE");
  opt("python-path", c.python_path, "extra ':'-separated sys.path entries for stream modules");
  opt("native-streams", c.native_streams,
      "run root streams made only of built-ins in C++ (false: all in Python)");
  opt("shards", c.shards, "stream actors on this node")->check(CLI::Range(1, 256));
  opt("tick-interval", c.tick_interval, "seconds between timer ticks to the streams")
      ->check(CLI::Range(0.01, 3600.0));
  opt("default-ttl", c.default_ttl, "TTL of indexed events that have none, seconds")
      ->check(CLI::PositiveNumber);
  opt("reap-interval", c.reap_interval, "seconds between index expiry sweeps")
      ->check(CLI::Range(0.01, 86400.0));
  opt("expired-keep-keys", c.expired_keep_keys,
      "fields an expired event keeps, comma-separated, or \"all\"");
  opt("sync-writes", c.sync_writes, "fsync every index write batch before acking");
  opt("commit-delay", c.commit_delay,
      "seconds an index commit group waits for more writes (0: only what is queued)")
      ->check(CLI::Range(0.0, 1.0));
  opt("inline-writes", c.inline_writes,
      "shards write their batches' index writes themselves (false: through the storage "
      "actor's commit groups)");
  opt("commit-max-events", c.commit_max_events, "writes that close an index commit group early")
      ->check(CLI::Range(size_t{1}, size_t{10000000}));
  opt("history-max-age", c.history_max_age, "seconds of event history kept (0: all)")
      ->check(CLI::NonNegativeNumber);
  opt("history-max-bytes", c.history_max_bytes, "bytes of event history kept (0: no limit)");
  opt("checkpoint-interval", c.checkpoint_interval,
      "seconds between stream-state checkpoints (0: only on shutdown)")
      ->check(CLI::NonNegativeNumber);
  opt("index-checkpoint-interval", c.index_checkpoint_interval,
      "seconds before index writes in the index log are checkpointed into RocksDB")
      ->check(CLI::Range(0.01, 3600.0));
  opt("instrumentation-interval", c.instrumentation_interval,
      "seconds between dmon's own events into the streams (0: off)")
      ->check(CLI::NonNegativeNumber);
  opt("hostname", c.hostname, "host of dmon's own events (default: this machine's hostname)");
  opt("stats-interval", c.stats_interval, "seconds between counter summaries in the log (0: off)")
      ->check(CLI::NonNegativeNumber);
  opt("drain-timeout", c.drain_timeout, "seconds to drain accepted work on SIGTERM")
      ->check(CLI::NonNegativeNumber);
  opt("log-level", c.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  opt("smtp-host", c.smtp_host, "SMTP server for email()");
  opt("smtp-port", c.smtp_port, "SMTP port for email()");
  opt("smtp-from", c.smtp_from, "sender address for email() (default dmon@<hostname>)");
  try {
    app.parse(argc, argv);
    // CLI11 lets the config file beat the environment; operators expect the reverse
    // (a ConfigMap file overridden per pod by DMON_* variables), so re-apply the
    // environment to every option not given on the command line.
    std::vector<std::string> given(argv + 1, argv + argc);
    for (auto* o : app.get_options()) {
      auto env = o->get_envname();
      const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
      if (!value)
        continue;
      auto flag = o->get_name();
      bool on_command_line = std::any_of(given.begin(), given.end(), [&](const std::string& a) {
        return a == flag || a.rfind(flag + "=", 0) == 0;
      });
      if (on_command_line)
        continue;
      o->clear();
      o->add_result(std::string{value});
      o->run_callback();
    }
  } catch (const CLI::CallForHelp&) {
    help = app.help();
    return c;
  } catch (const CLI::CallForVersion&) {
    help = "dmond 0.1.0\n";
    return c;
  } catch (const CLI::ParseError& e) {
    return error{ec::bad_config, std::string{e.what()} + "; run dmond --help for every setting"};
  }
  return c;
}

}  // namespace dmon
