// dmon::store: the node's persistent storage facade (index, expiry, history, stream state).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "error.hpp"
#include "event.hpp"
#include "index.hpp"
#include "query/query.hpp"

namespace dmon {

/// Success without a value, for operations that only can fail.
using status = result<std::monostate>;

/// A switch a test flips to make every file write of an open store fail, as a
/// full disk would. Production code leaves `store_options::write_fault` empty.
struct write_fault {
  /// While true, every append to a RocksDB file (WAL, SST, MANIFEST) fails
  /// with "No space left on device (injected)".
  std::atomic<bool> fail{false};
};

/// How to open a store. One `Default:` per field.
struct store_options {
  /// The data directory; the database lives in `<path>/db`, created (with
  /// parents) when missing. Default: "./data".
  std::string path = "./data";
  /// Whether every write batch is fsynced before `apply` and the other writes
  /// return. Without it a batch is in the WAL (the OS page cache) on return:
  /// it survives `kill -9` or a crash of dmond, but the last few seconds of
  /// writes can be lost on a power loss or kernel panic. With it, nothing
  /// acknowledged is lost even then, at the cost of one fsync (0.1-10 ms,
  /// device-dependent) per batch. Default: false.
  bool sync = false;
  /// RocksDB block cache shared by all column families, in bytes; reads of
  /// history and state go through it (index reads are served from memory).
  /// Default: 64 MiB.
  size_t block_cache_bytes = size_t{64} << 20;
  /// Memtable size per column family, in bytes; larger means fewer flushes and
  /// a longer WAL replay on restart. Default: 32 MiB.
  size_t write_buffer_bytes = size_t{32} << 20;
  /// Ttl given to indexed events that carry none, in seconds. Default: 60
  /// (Riemann's `index/default-ttl`).
  double default_ttl = 60;
  /// History older than this is deleted by `enforce_retention`; zero keeps it
  /// forever. Default: 7 days.
  std::chrono::microseconds history_max_age = std::chrono::hours{24 * 7};
  /// When the history takes more than this (RocksDB's approximate on-disk
  /// size), `enforce_retention` deletes its oldest events until it fits; zero
  /// means no limit. Default: 1 GiB.
  uint64_t history_max_bytes = uint64_t{1} << 30;
  /// Opens without the lock and refuses every write, e.g. to inspect the data
  /// of a running node. Default: false.
  bool read_only = false;
  /// The clock that stamps events without a time, in unix microseconds.
  /// Default: `now_micros`.
  std::function<int64_t()> clock = now_micros;
  /// Test hook: when set, file writes fail while `fault->fail` is true.
  /// Default: none.
  std::shared_ptr<write_fault> fault;
  /// Index writes are made durable in the index log (`<path>/index-log`) and reach RocksDB's
  /// `index` family only at checkpoints, which run in the background once the log holds
  /// this many bytes... Default: 64 MiB.
  uint64_t checkpoint_bytes = uint64_t{64} << 20;
  /// ...or once the oldest change not yet checkpointed is this old. A longer interval means
  /// fewer RocksDB writes for keys written often, and a longer replay at open. Default: 2 s.
  std::chrono::milliseconds checkpoint_interval{2000};
};

/// What `store::open` found, for the opening actor to log.
struct open_report {
  /// Index entries loaded into memory.
  size_t index_entries = 0;
  /// Wall time of the whole open, including WAL replay and the index rebuild.
  std::chrono::microseconds open_time{0};
  /// Index log records replayed on top of RocksDB's index (writes acknowledged after the
  /// last checkpoint).
  size_t log_records = 0;
  /// What the open had to repair, one line each (e.g. a torn index log record cut off after
  /// a crash); also logged as warnings.
  std::vector<std::string> warnings;
};

/// What one `enforce_retention` run did.
struct retention_report {
  /// Approximate history size before and after, in bytes.
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  /// Events with a time below this were deleted (INT64_MIN: none).
  int64_t deleted_before_us = INT64_MIN;
};

/// One write of `store::write_replicas`: keep `*e` as the replica of its key, or (`erase`)
/// drop the replica of its key. The event must outlive the call.
struct replica_write {
  const event* e = nullptr;
  bool erase = false;
};

/// The node's persistent storage: one RocksDB under `<path>/db` with column
/// families `index` (latest event per key), `events` (time-ordered history),
/// `state` (stream checkpoints) and `replicas` (index entries held for other
/// cluster members). Owned by the storage actor; every method is safe to call from
/// any thread: reads run concurrently with writes, and writes are serialized
/// inside. Every write returns only after its batch is in a log on disk (the index
/// log for index writes, RocksDB's WAL for the rest; fsynced when `sync`), so an actor
/// may acknowledge its input once the call returns.
/// Every failure is an `ec::storage_failure` carrying RocksDB's text.
class store {
 public:
  virtual ~store() = default;

  /// Opens (creating when missing) the store at `opts.path` and rebuilds the
  /// in-memory index from it. Fails when the path is not a usable directory,
  /// when another process (another dmond) holds the database, or on any
  /// RocksDB error; the message names the path and what to do.
  static result<std::unique_ptr<store>> open(store_options opts);

  /// Returns what `open` found.
  virtual const open_report& opened() const = 0;

  // -- index ----------------------------------------------------------------

  /// Makes `events` the latest of their keys with Riemann's rules, in one
  /// atomic write: coalesced to the last event per key in the batch; state
  /// "expired" deletes the key; a missing ttl becomes `default_ttl`, a missing
  /// time the clock's now. Appends the changes to the index log as one record
  /// (RocksDB's `index` family gets them at the next checkpoint) and then updates
  /// the memory. On error nothing changed. Returns the number of keys written or deleted.
  virtual result<size_t> apply(std::span<const event> events) = 0;

  /// As `apply`, for writes already coalesced to one per key (a commit group's): `latest`
  /// holds each event with its key's `index_key::hash`, no key twice (`erase` is ignored: the
  /// state decides). Skips the coalescing and moves the events out of `latest`, which is
  /// left in an unspecified state.
  virtual result<size_t> apply_latest(std::vector<keyed_event>& latest) = 0;

  /// Returns the latest event of a key.
  virtual std::optional<event> lookup(const index_key& key) const = 0;

  /// Returns the index entries matching `pred`, through an index path when the
  /// query allows (see `index::plan`), else a scan.
  virtual std::vector<event> select(const query::predicate& pred) const = 0;

  /// Returns the number of index entries.
  virtual size_t size() const = 0;

  /// The in-memory index itself, for read-only callers that take an `index`.
  virtual const index& memory() const = 0;

  /// Removes every entry with `now_us - time > ttl` (strictly) in one atomic write (one
  /// index log record), found through the in-memory expiry order (no scan), and returns
  /// the removed events as they were stored, oldest deadline first; the reaper builds the
  /// "expired" notices from them.
  virtual result<std::vector<event>> expire(int64_t now_us) = 0;

  // -- history --------------------------------------------------------------

  /// Appends `events` to the history in one atomic write, keyed by time (an
  /// event without time gets the clock's now) and a sequence number, so equal
  /// times are all kept, in append order.
  virtual status append_history(std::span<const event> events) = 0;

  /// Returns stored events with `from_us <= time < to_us` that match `filter`
  /// (all when null), in time order (append order for equal times), at most
  /// `limit` of them (0: no limit).
  virtual result<std::vector<event>> history(int64_t from_us, int64_t to_us,
                                             const query::predicate* filter,
                                             size_t limit) const = 0;

  /// Deletes history older than `now_us - history_max_age`, then the oldest
  /// events while the approximate size exceeds `history_max_bytes`; reclaims
  /// the space by compacting the deleted range. Meant to run periodically on a
  /// background thread; concurrent reads and writes go on.
  virtual result<retention_report> enforce_retention(int64_t now_us) = 0;

  /// Returns the approximate size of the history, in bytes (files plus memtables).
  virtual result<uint64_t> history_bytes() const = 0;

  // -- stream state ---------------------------------------------------------

  /// Stores opaque checkpoint bytes under `key` (e.g. "shard 0/cpu_stream").
  virtual status put_state(std::string_view key, std::string_view bytes) = 0;

  /// Returns the bytes stored under `key`, or nullopt when none.
  virtual result<std::optional<std::string>> get_state(std::string_view key) const = 0;

  /// Returns every (key, bytes) whose key starts with `prefix`, in key order.
  virtual result<std::vector<std::pair<std::string, std::string>>> list_state(
      std::string_view prefix) const = 0;

  /// Deletes the state under `key` (no error when absent).
  virtual status delete_state(std::string_view key) = 0;

  /// Puts every (key, bytes) of `puts` and deletes every key of `deletes` in one
  /// atomic write (the cluster's replica entries are kept this way).
  virtual status write_states(std::span<const std::pair<std::string, std::string>> puts,
                              std::span<const std::string> deletes) = 0;

  // -- cluster replicas ------------------------------------------------------

  /// Where databases written before the `replicas` family kept replica entries: in `state`,
  /// under this prefix + `index_key::encode()`. `open` moves them to `replicas` (one atomic
  /// write; a read-only open leaves them and `load_replicas` reads both places).
  static constexpr const char* legacy_replica_prefix = "cluster/replica/";

  /// Keeps or drops replicas of other owners' index entries, one per key (the last write of
  /// a key in `writes` wins), in one atomic write to the `replicas` family. Keys and values
  /// are encoded straight from the events; nothing in memory changes (`replica_set` keeps
  /// its own index).
  virtual status write_replicas(std::span<const replica_write> writes) = 0;

  /// Returns every replica entry held, as written (not normalized).
  virtual result<std::vector<event>> load_replicas() const = 0;

  // -- maintenance ----------------------------------------------------------

  /// Writes every index entry changed since the last checkpoint to RocksDB's `index` family
  /// (one batch) and removes the index log segments that held them. Runs by itself in the
  /// background (see `store_options::checkpoint_bytes`); call it to force one.
  virtual status checkpoint() = 0;

  /// Checkpoints, then flushes every memtable to SST files, e.g. before a clean shutdown,
  /// so the next open replays neither the index log nor a WAL.
  virtual status flush() = 0;
};

}  // namespace dmon
