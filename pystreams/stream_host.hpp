// dmon::stream_host: one shard's private instance of the user's stream module, and its batch loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"
#include "event.hpp"
#include "key_state.hpp"
#include "regrouped_event.hpp"

namespace dmon {

/// What a stream_host loads and how it reports.
struct stream_host_config {
  /// Module name, found on sys.path (DMON_STREAM_MODULE / --streams).
  std::string module;
  /// Which shard this host serves; appears in log lines.
  int shard = 0;
  /// Passed to the Python runtime as `config` (smtp_host, smtp_port, ...). Also read
  /// here: `native_streams` ("false"/"0" runs every root in Python; see docs/streams.md).
  std::map<std::string, std::string> settings;
  /// Unix microseconds for the streams' clock; empty: the wall clock. Tests set it so that
  /// the Python and the native path see the same time.
  std::function<int64_t()> clock_us = {};
};

/// Where the streams' side effects go. Called from process() or tick(), with the GIL held
/// for roots running in Python and without it for roots running natively; implementations
/// must not block (hand the event to an actor and return). index and store take the event
/// over: keep it by moving from it.
struct stream_sinks {
  std::function<void(event&&)> index;
  std::function<void(event)> reinject;
  /// `publish(topic)` streams; when empty, the Python runtime keeps its own in-memory log.
  std::function<void(const std::string& topic, event)> publish;
  /// `store()` streams (event history); when empty, the Python runtime keeps a bounded list.
  std::function<void(event&&)> store;
  /// `regroup(fields)` streams: `address` names the stream on every node, `fields` build the
  /// new key; the event must reach deliver_regrouped() on the new key's owner. When empty,
  /// regroup passes events straight to its children (as in plain Python).
  std::function<void(const std::string& address, const std::vector<std::string>& fields, event)>
      regroup;
};

/// Counters a stream_host keeps; read by its owner between batches.
struct stream_counters {
  uint64_t events_in = 0;
  /// Exceptions raised by root streams (each one rebuilds that stream).
  uint64_t root_exceptions = 0;
  /// Exceptions caught and reported by combinators inside a stream.
  uint64_t child_exceptions = 0;
  /// Deliveries skipped because a stream was waiting out its rebuild backoff.
  uint64_t skipped = 0;
  uint64_t rebuilds = 0;
  /// Events that regroup() streams handed to their new key's owner, and that arrived here.
  uint64_t regrouped_out = 0;
  uint64_t regrouped_in = 0;
  /// Arrived regrouped events whose regroup() stream this module does not have.
  uint64_t regroup_unknown = 0;
  /// Root streams running natively (C++, no GIL) and in Python.
  uint64_t native_roots = 0;
  uint64_t python_roots = 0;
};

/// Owns a private instance of the user's module (so per-key state never crosses
/// shards) and its root streams. Roots made only of built-ins run natively (pystreams/native,
/// no GIL, no dicts) unless `native_streams` is false or DMON_NATIVE_STREAMS=0; the load
/// logs which roots run where and why. Used by exactly one stream actor; every method
/// takes the GIL itself, once per call, and never holds it while waiting on
/// anything else. A root stream that raises is logged with its name, the event
/// and the traceback, counted, and rebuilt from a fresh module instance; repeated
/// failures wait a capped backoff (0.1 s doubling to 30 s) while the other
/// streams go on.
class stream_host {
 public:
  /// Imports the module and collects its root streams. Returns stream_failure
  /// with the Python traceback when the import fails or defines no stream.
  static result<std::unique_ptr<stream_host>> load(const stream_host_config& cfg,
                                                   stream_sinks sinks);
  ~stream_host();

  /// Sends every event of the batch to every root stream, in order.
  void process(std::span<const event> batch);

  /// As process(), for a batch the caller no longer needs: the last root, when it runs
  /// natively, may move each event on (into the index sink, say) instead of copying it.
  /// The events are left valid but unspecified.
  void process_owned(std::span<event> batch);

  /// Runs the children of each event's regroup() stream (found by address) on it: the events
  /// a regroup on this or another node sent here because this shard owns their new key.
  /// Returns how many had an address this module does not have (counted, logged; the
  /// nodes run different stream modules), and the first such address in `unknown`.
  size_t deliver_regrouped(std::span<const regrouped_event> batch, std::string* unknown = nullptr);

  /// Drives the streams' timers (interval streams flush even when events stop).
  void tick(int64_t now_us);

  /// The state of every stateful built-in stream as JSON text (dmon.state.snapshot), for
  /// checkpoints; empty when the snapshot failed (logged).
  std::string snapshot_state();

  /// Restores a snapshot_state() text into the current streams; what no longer matches the
  /// module's code is dropped and logged. Returns how many streams were restored.
  size_t restore_state(const std::string& json);

  /// Which keys export_keys() gives.
  enum class key_export {
    /// Every key the streams hold state for (handoff on a membership change).
    all,
    /// Only keys whose state an event, a timer or an import changed since the last `changed`
    /// export (a replication round); this export forgets them. `all` leaves them marked.
    changed,
  };

  /// The per-key part of the streams' state (dmon.state.split_keys: `by` forks keyed by host
  /// and service, `coalesce` entries, the forks of a regroup() with fields, keyed by the
  /// regroup key), one slice per key for which `want` is true (every key when empty). Empty
  /// when the snapshot failed (logged).
  std::vector<key_state> export_keys(key_export which = key_export::all,
                                     const std::function<bool(const key_state&)>& want = {});

  /// Loads slices from export_keys() (of this or another node's instance of the module): each
  /// key's state replaces what the streams hold for that key; other keys are untouched.
  /// Returns how many stream entries were restored.
  size_t import_keys(std::span<const key_state> slices);

  std::vector<std::string> stream_names() const;
  /// Names of the roots that run natively.
  std::vector<std::string> native_stream_names() const;
  const stream_counters& counters() const;

 private:
  struct impl;
  explicit stream_host(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace dmon
