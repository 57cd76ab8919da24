// dmon::config: every setting of a node, its default, and how flags and DMON_* variables map onto
// it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"

namespace dmon {

/// One node's settings. Every field has a flag (--tcp-port) and an environment
/// variable (DMON_TCP_PORT); deploy/dmon.conf documents them all.
struct config {
  /// Address every listener binds. Default: 127.0.0.1 (a pod sets 0.0.0.0).
  std::string bind = "127.0.0.1";
  /// Riemann protobuf over TCP; 0 picks a free port. Default: 5555.
  uint16_t tcp_port = 5555;
  /// Riemann protobuf over UDP, one Msg per datagram; 0 picks a free port. Default: 5555.
  uint16_t udp_port = 5555;
  /// JSON event datagrams (the original dmon protocol); 0 picks a free port. Default: 7689.
  uint16_t json_udp_port = 7689;
  /// HTTP: /healthz /readyz /metrics, /index queries, WebSocket/SSE subscriptions, POST /events;
  /// 0 picks a free port. Default: 5556.
  uint16_t http_port = 5556;
  /// Folder of the dashboard's static files served at GET /. Default: web/ of the source tree
  /// dmond was built from.
  std::string http_web_dir = DMON_WEB_DIR;
  /// Largest HTTP body or WebSocket message, bytes. Default: 1 MiB.
  size_t http_max_body_bytes = 1u << 20;
  /// WebSocket and SSE subscribers at once. Default: 256.
  size_t http_max_subscribers = 256;
  /// Events queued for one subscriber before it is dropped as too slow. Default: 1024.
  size_t http_subscriber_queue = 1024;
  /// Cluster peers, "host:port,..." (this node may be listed too). Empty with no peers_dns:
  /// a single node that opens no cluster port.
  std::string peers;
  /// DNS name whose addresses are the peers (a Kubernetes headless Service), re-resolved
  /// every 30 s.
  std::string peers_dns;
  /// Cluster (CAF middleman) port; 0 picks a free port. Default: 5557.
  uint16_t peer_port = 5557;
  /// This node's stable id in the cluster; it decides which keys the node owns, so keep it
  /// across restarts (a pod name). Default: the advertised endpoint.
  std::string node_id;
  /// "host:port" peers dial to reach this node. Default: bind:peer_port.
  std::string advertise;
  /// Copies of every index entry in a cluster: the owner plus (replication - 1) replicas on
  /// the key's next owners in rendezvous order. 1 turns replicas off. Default: 2.
  int replication = 2;
  /// Seconds a cluster-wide query waits for the other members before answering with what
  /// it has (replicas stand in for members that did not answer). Default: 2.
  double cluster_query_timeout = 2.0;
  /// Seconds between rebalance passes that move entries this node holds but does not own
  /// to their owners (also run on every membership change). Default: 10.
  double rebalance_interval = 10.0;
  /// Seconds a node leaving the cluster (SIGTERM) waits after announcing its leave before it
  /// plans its handoff, so that the announcements of members stopped with it (a scale-down
  /// by several) arrive first and no entry is handed to another leaver. Default: 1.
  double leave_settle = 1.0;
  /// Seconds a leaving node keeps retrying to hand its index entries to staying members;
  /// entries still without an acknowledged home then stay in its data directory (counted
  /// in handoff_unplaced). Default: 25.
  double leave_deadline = 25.0;
  /// Seconds a delete's tombstone is kept in a cluster (from the delete's time): a stale copy
  /// of the key turning up within it (a node returning with its data directory, a healed
  /// partition) stays deleted. Default: 86400 (a day).
  double tombstone_horizon = 86400.0;
  /// Events waiting to be sent to replicas or owners; past it they are dropped and counted
  /// as replication failures. Default: 100000.
  size_t cluster_outbox_events = 100000;
  /// Largest TCP frame accepted, bytes. Default: 64 MiB.
  size_t max_frame_bytes = 64u << 20;
  /// Largest UDP datagram accepted, bytes. Default: 16 KiB (Riemann's).
  size_t max_datagram_bytes = 16384;
  /// Unanswered frames per TCP connection before the server stops reading it. Default: 1024.
  size_t max_inflight_frames = 1024;
  /// Events accepted from UDP and not yet through the streams; past it datagrams are dropped
  /// and counted. Default: 100000.
  size_t udp_queue_events = 100000;
  /// Threads running sockets and decoding. Default: 1.
  int io_threads = 1;
  /// Data directory. Default: ./data.
  std::string data_dir = "./data";
  /// Python module holding the root streams. Default: `streams`, the example module in
  /// pystreams/examples.
  std::string streams = "streams";
  /// Extra sys.path entries for stream modules, ':'-separated.
  std::string python_path;
  /// Run root streams made only of built-ins in C++ (docs/streams.md). Default: true.
  bool native_streams = true;
  /// Stream actors (shards) on this node. Default: 1 (one GIL; more shards isolate, not speed up).
  int shards = 1;
  /// Seconds between timer ticks delivered to the streams. Default: 1.
  double tick_interval = 1.0;
  /// TTL given to indexed events that have none, seconds. Default: 60.
  double default_ttl = 60.0;
  /// Seconds between expiry sweeps of the index. Default: 5.
  double reap_interval = 5.0;
  /// Fields an "expired" event keeps from the expired entry, comma-separated, or "all".
  /// Default: host,service (Riemann's keep-keys).
  std::string expired_keep_keys = "host,service";
  /// fsync every index write batch before acking. Default: off (the WAL survives kill -9 of
  /// dmond without it, but not a power loss or kernel crash).
  bool sync_writes = false;
  /// Seconds an index commit group stays open for more batches after its first write; every
  /// batch's ack waits for its group's WAL write. 0: commit as soon as the writes already
  /// queued are in the group (groups then grow only while the previous commit runs).
  /// Default: 0.
  double commit_delay = 0.0;
  /// Index/history writes (before coalescing to the latest event per key) that close a
  /// commit group early. Default: 20000.
  size_t commit_max_events = 20000;
  /// Shards write their own batches to the store (one hop less per batch) instead of
  /// handing them to the storage actor's commit groups.
  bool inline_writes = true;
  /// Event history (store() streams) older than this many seconds is deleted. 0 keeps all.
  /// Default: 604800 (7 days).
  double history_max_age = 7 * 86400.0;
  /// Event history beyond this many bytes is deleted, oldest first. 0: no limit. Default: 1 GiB.
  uint64_t history_max_bytes = uint64_t{1} << 30;
  /// Seconds between checkpoints of stream state (rate windows, changed_state, ...) to the
  /// data directory; also taken on shutdown. 0: only on shutdown. Default: 10.
  double checkpoint_interval = 10.0;
  /// Seconds after which index writes held only in the index log are checkpointed into
  /// RocksDB (each changed key once); longer means fewer RocksDB writes for hot keys and a
  /// longer log replay after a crash. Default: 2.
  double index_checkpoint_interval = 2.0;
  /// Seconds between dmon's own events ("dmon ..." services) sent into the streams; 0 turns
  /// them off. Default: 10.
  double instrumentation_interval = 10.0;
  /// The host of dmon's own events. Default: the machine's hostname.
  std::string hostname;
  /// Seconds between counter summaries in the log; 0 turns them off. Default: 10.
  double stats_interval = 10.0;
  /// Seconds to drain accepted work on SIGTERM before giving up. Default: 20.
  double drain_timeout = 20.0;
  /// trace, debug, info, warn, error. Default: info.
  std::string log_level = "info";
  /// SMTP settings for the email() stream.
  std::string smtp_host = "localhost";
  uint16_t smtp_port = 25;
  std::string smtp_from;

  /// Settings handed to the Python runtime (`dmon.runtime.current().config`).
  std::map<std::string, std::string> python_settings() const;
};

/// Parses flags, then DMON_* environment variables for flags not given, then an
/// optional --config file. Returns bad_config with the offending flag and the fix;
/// `help` is filled instead when --help or --version was asked for.
result<config> parse_config(int argc, char** argv, std::string& help);

}  // namespace dmon
