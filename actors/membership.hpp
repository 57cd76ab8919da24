// dmon::membership: who the cluster members are, which peers to (re)connect to and when; no CAF.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace dmon {

/// A peer's address: a host name or IP literal and a TCP port.
struct peer_endpoint {
  std::string host;
  uint16_t port = 0;

  /// Returns "host:port", with brackets around an IPv6 literal ("[::1]:5557").
  std::string to_string() const;

  friend auto operator<=>(const peer_endpoint&, const peer_endpoint&) = default;
};

/// Parses "host:port", "host" (takes `default_port`), "[v6]:port" or "[v6]".
/// Returns bad_config naming the entry when the port is not a number in 1..65535
/// or the host is empty.
result<peer_endpoint> parse_endpoint(std::string_view text, uint16_t default_port);

/// Parses a `--peers` list: comma-separated endpoints; spaces and empty entries are
/// ignored, duplicates dropped. Returns bad_config naming the first bad entry.
result<std::vector<peer_endpoint>> parse_peers(std::string_view list, uint16_t default_port);

/// Resolves `name` (e.g. a Kubernetes headless Service) with getaddrinfo into one
/// endpoint per distinct A/AAAA address, sorted, all on `port`. Blocks: call it
/// off any actor's thread. Returns unreachable with the resolver's reason.
result<std::vector<peer_endpoint>> resolve_peers(const std::string& name, uint16_t port);

/// What nodes tell each other about a member: its stable id, which incarnation
/// of it this is (a restarted node has a larger one and replaces the old entry),
/// and where peers reach it.
struct member_info {
  /// Stable across restarts (the ring hashes it); unique in the cluster.
  std::string node_id;
  /// Grows on every start of the node (start time in microseconds).
  uint64_t incarnation = 0;
  /// "host:port" of its cluster port, as peers should dial it.
  std::string endpoint;

  friend bool operator==(const member_info&, const member_info&) = default;
};

/// The state of our connection to one peer endpoint.
enum class peer_state {
  /// Not tried yet, or its retry is scheduled.
  waiting,
  /// A connect (and hello) is in flight.
  connecting,
  /// Connected and the peer said hello.
  up,
  /// Failed or lost; retried with backoff.
  down,
  /// This endpoint is our own node (a peer list or DNS answer that includes us).
  self,
};

/// Returns "waiting", "connecting", "up", "down" or "self".
const char* to_string(peer_state x);

/// Membership state of one node: the endpoints it dials (configured seeds and
/// ones learned from peers), the live members it is directly connected to, and
/// when to retry whom.
///
/// The cluster actor owns one instance and feeds it events (connect results,
/// hellos, monitor downs, peers' member lists, the clock); this class decides.
/// Time is always passed in, so tests drive it with a fake clock.
///
/// Rules:
/// - A member is live when this node has a working connection to it and it said
///   hello (directly, inbound or outbound). The live list always includes self.
/// - Peers' member lists (gossip) only teach endpoints to dial; they never make a
///   member live on their own. An entry for a node id with a higher incarnation
///   replaces the old one; a lower one is ignored.
/// - A member reported down by a monitor is removed and stays removed until it
///   connects again, even while other peers still list it.
/// - Seed endpoints are retried forever with capped, jittered exponential
///   backoff; learned endpoints are dropped after a failure (peers will teach
///   them again if the member comes back).
class membership {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  /// Retry policy.
  struct options {
    /// First retry delay after a failure. Default: 0.5 s.
    duration initial_backoff = std::chrono::milliseconds{500};
    /// Upper bound of the doubling delay. Default: 30 s.
    duration max_backoff = std::chrono::seconds{30};
    /// Each delay is scaled by a random factor in [1 - jitter, 1 + jitter], so
    /// nodes that failed together do not retry in lockstep. Default: 0.2.
    double jitter = 0.2;
    /// Seed of the jitter's random generator; 0 picks a random one. Default: 0.
    uint64_t seed = 0;
  };

  /// One endpoint as /cluster and /readyz show it.
  struct peer_status {
    peer_endpoint endpoint;
    peer_state state = peer_state::waiting;
    /// Configured (--peers, --peers-dns) rather than learned from a peer.
    bool seed = false;
    /// The node behind it, once it said hello.
    std::string node_id;
    /// Why the last attempt failed, or empty.
    std::string last_error;
    /// When the next attempt is due (waiting/down).
    time_point next_attempt{};
    /// Consecutive failures since the last success.
    int failures = 0;
  };

  membership(member_info self, options opts);

  explicit membership(member_info self) : membership(std::move(self), options{}) {}

  const member_info& self() const { return self_; }

  /// Replaces the configured endpoints (the static list once, a DNS answer on every
  /// re-resolution). New ones are due at once; ones no longer listed are dropped
  /// unless connected (then they stay, as learned).
  void set_seeds(const std::vector<peer_endpoint>& seeds, time_point now);

  /// Says that the configured endpoints are not known yet (a DNS name that did not
  /// resolve): the node is not ready, and readiness() tells `why`, until set_seeds().
  void seeds_pending(std::string why);

  /// Returns the endpoints whose attempt is due at `now` and marks them connecting.
  std::vector<peer_endpoint> due(time_point now);

  /// Returns when the earliest waiting/down endpoint is due, or nullopt.
  std::optional<time_point> next_attempt() const;

  /// A connect or hello to `ep` failed for `reason`: schedules a retry (seeds) or
  /// forgets the endpoint (learned).
  void connect_failed(const peer_endpoint& ep, const std::string& reason, time_point now);

  /// The connect to `ep` worked and the node behind it said hello as `remote`.
  /// Returns true when the live member list changed.
  bool connected(const peer_endpoint& ep, const member_info& remote, time_point now);

  /// A member said hello (on any connection). Returns true when the live list
  /// changed: a new node id, or a new incarnation of a live one.
  bool member_up(const member_info& remote, time_point now);

  /// A monitor reported `node_id`'s incarnation down. Removes the member unless a
  /// newer incarnation is already live; its endpoints go down (seeds retry after
  /// the initial backoff). Returns true when the live list changed.
  bool member_down(const std::string& node_id, uint64_t incarnation, time_point now);

  /// Merges a peer's live member list: unknown members and newer incarnations
  /// become endpoints to dial now. Returns the endpoints newly scheduled.
  std::vector<peer_endpoint> merge(const std::vector<member_info>& members, time_point now);

  /// Returns the live members, self included, sorted by node id.
  std::vector<member_info> live() const;

  /// `node_id`'s incarnation announced that it is leaving (SIGTERM): it stays live (it
  /// still answers queries and finishes its handoff) but is no owner, replica or
  /// handoff target any more. Returns true when that is news.
  bool mark_leaving(const std::string& node_id, uint64_t incarnation);

  /// True when the live member `node_id` (self included) announced its leave. A
  /// returning node (a larger incarnation) is not leaving.
  bool leaving(std::string_view node_id) const;

  /// Returns the live member with this id (self included), or nullptr.
  const member_info* find(std::string_view node_id) const;

  /// Returns every known endpoint and its state, sorted by endpoint.
  std::vector<peer_status> peers() const;

  /// True when every configured endpoint is connected (or is this node). A node
  /// without configured peers is ready alone.
  bool ready() const;

  /// One line for /readyz and the log, e.g. "ready: 3 members (a, b, c)" or
  /// "waiting for peers 10.0.0.2:5557 (retry in 4 s: connection refused)".
  std::string readiness(time_point now) const;

 private:
  duration next_delay(int failures);
  void schedule_retry(peer_status& p, time_point now);

  member_info self_;
  options opts_;
  std::mt19937_64 rng_;
  std::map<peer_endpoint, peer_status> endpoints_;
  std::optional<std::string> seeds_pending_;
  // Live members other than self, by node id.
  std::map<std::string, member_info, std::less<>> members_;
  // Node id -> incarnation last reported down; its gossip is ignored until it reconnects.
  std::map<std::string, uint64_t, std::less<>> down_;
  // Node id -> incarnation that announced its leave.
  std::map<std::string, uint64_t, std::less<>> leaving_;
};

}  // namespace dmon
