// dmon::index: the in-memory latest event of every (host, service), with Riemann's rules and
// secondary orderings by host and by service so common queries need not scan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event.hpp"
#include "key_table.hpp"
#include "query/query.hpp"

namespace dmon {

/// The key of an index entry; either part may be absent (Riemann's nil).
struct index_key {
  std::optional<std::string> host;
  std::optional<std::string> service;

  static index_key of(const event& e) { return {e.host, e.service}; }
  /// Returns a flat byte string unique per key, used for hashing and as the
  /// RocksDB key. Per part: "\0" when absent, else "\1" + the bytes with 0x00
  /// written as FF 01 and 0xFF as FF 02, then "\0"; so no two keys collide
  /// even when names contain NUL bytes.
  std::string encode() const;
  /// Returns `index_key::of(e).encode()` without copying the event's host and service.
  static std::string encode(const event& e);
  /// Appends `index_key::of(e).encode()` to `out` (e.g. a buffer reused for every write).
  static void encode_to(const event& e, std::string& out);
  /// Returns the key `encode()` wrote, or nullopt when `bytes` is no such encoding.
  static std::optional<index_key> decode(std::string_view bytes);
  /// Returns the key's 64-bit hash (this process only: not stable across runs), by which the
  /// index and the commit group find entries; keys differing only by an absent or empty part
  /// hash differently, and equal hashes are told apart by comparing the parts.
  static uint64_t hash(const std::optional<std::string>& host,
                       const std::optional<std::string>& service);
  static uint64_t hash(const event& e) { return hash(e.host, e.service); }
  uint64_t hash() const { return hash(host, service); }
  friend bool operator==(const index_key&, const index_key&) = default;
};

/// An index write: the event, the hash of its key (`index_key::hash(e)`, computed once where
/// the write enters the storage path) and whether it removes the key instead.
struct keyed_event {
  keyed_event() = default;
  // Constructors rather than an aggregate: building one in place (emplace_back) then zeroed
  // the whole 272 bytes before moving the event in.
  keyed_event(uint64_t h, event&& ev, bool er = false) : hash(h), e(std::move(ev)), erase(er) {}
  keyed_event(uint64_t h, const event& ev, bool er = false) : hash(h), e(ev), erase(er) {}

  uint64_t hash = 0;
  event e;
  bool erase = false;
};

/// Returns the last microsecond at which `e` is still live: `time + floor(ttl
/// * 1e6)`, saturated; `default_ttl_seconds` stands in for a missing ttl, a
/// missing time counts as 0 and a NaN ttl never expires. An entry is expired
/// at `now_us` exactly when `now_us > expiry_deadline(...)`, which is
/// Riemann's strict `now - time > ttl`.
int64_t expiry_deadline(const event& e, double default_ttl_seconds);

namespace detail {

/// One index entry: the event plus its positions in the host and service
/// posting lists, so removal is a swap with the list's last element. Allocated
/// one by one, so the postings can point at it while the hash table moves.
struct index_slot {
  event e;
  uint64_t hash = 0;
  /// expiry_deadline(e, the index's default ttl), kept so a put computes one deadline, not
  /// the replaced entry's again.
  int64_t deadline = 0;
  uint32_t host_pos = 0;
  uint32_t service_pos = 0;
  /// The last `mark` a marking `commit` gave the entry (0: none).
  uint32_t mark = 0;
};

/// Entries grouped by the value of one field (host or service), ordered by
/// value so a prefix is a contiguous range. Per-value vectors with positions
/// kept in the slots: inserting costs a lookup among the distinct values (a
/// few thousand hosts, hundreds of services, all cache-resident) plus an
/// append, with no allocation per entry, which keeps the rebuild at open fast
/// and the memory per entry small.
using index_secondary = std::map<std::optional<std::string>, std::vector<index_slot*>>;

}  // namespace detail

/// How `index::select` answers a query.
enum class query_path : uint8_t {
  /// `host = X and service = Y`: one hash lookup.
  lookup,
  /// `host = X` (alone or inside an `and`): the entries of one host.
  host,
  /// `service = Y` (alone or inside an `and`).
  service,
  /// `host =~ "prefix%"`: a range of the host ordering.
  host_prefix,
  /// `service =~ "prefix%"`: a range of the service ordering.
  service_prefix,
  /// Anything else: every entry is tested.
  scan,
};

/// Returns the path's name, e.g. "service_prefix".
const char* to_string(query_path path);

/// In-memory index: the latest event per key, plus orderings by host and by
/// service. Thread-safe: any number of readers run concurrently with writers
/// (a shared mutex, held only for the in-memory work). The persistent store
/// keeps one as its read cache and feeds it through `commit`; on its own it is
/// a purely in-memory index with the same rules.
class index {
 public:
  /// One change for `commit`: the event to store under its key's hash, or (`erase`) whose
  /// key to remove.
  using change = keyed_event;

  explicit index(double default_ttl_seconds = 60) : default_ttl_(default_ttl_seconds) {}
  ~index();

  index(const index&) = delete;
  index& operator=(const index&) = delete;

  /// Returns the ttl given to events that carry none, in seconds.
  double default_ttl() const { return default_ttl_; }

  /// Returns `e` as Riemann indexes it: ttl defaulted, time set to `now_us`
  /// when missing.
  event prepare(event e, int64_t now_us) const;

  /// Inserts `e` as the latest event of its key; state "expired" deletes the key instead.
  /// Returns the event as stored (ttl and time filled in), or nullopt when the key was deleted.
  std::optional<event> insert(event e);

  /// Removes a key; returns whether it was present.
  bool remove(const index_key& key);

  /// Returns the entry for a key.
  std::optional<event> lookup(const index_key& key) const;

  /// Calls `fn(key, entry)` for each of `keys` (entry: null when absent) without copying the
  /// events, under the read lock taken for a few hundred keys at a time and given up in
  /// between, so a writer waits for one such chunk at most, not for all of them (the lock
  /// lets new readers in while a writer waits). `fn` must not call back into the index.
  void read_keys(std::span<const index_key> keys,
                 const std::function<void(const index_key& key, const event* entry)>& fn) const;

  /// Returns the entry stored under an encoded key (`index_key::encode()`).
  std::optional<event> find(const std::string& encoded_key) const;

  /// Returns the expiry deadline of the entry stored under an encoded key, or
  /// nullopt when there is none.
  std::optional<int64_t> deadline_of(const std::string& encoded_key) const;

  /// Returns every entry for which `pred` holds (always a full scan).
  std::vector<event> select(const std::function<bool(const event&)>& pred) const;

  /// Returns every entry matching `pred`, through the path `plan(pred)` names:
  /// a lookup, a host or service range, or a scan. Every path returns exactly
  /// what a scan would (candidates are always re-checked with `pred`), in no
  /// particular order.
  std::vector<event> select(const query::predicate& pred) const;

  /// Calls `fn` on every entry matching `pred`, through the same path as
  /// `select`, without copying the events; returns the number of matches.
  /// `fn` runs under the read lock: it must be quick and must not call back
  /// into the index (writers wait meanwhile).
  size_t visit(const query::predicate& pred, const std::function<void(const event&)>& fn) const;

  /// Where a paged walk (`page`) stands; a fresh cursor starts at the beginning.
  struct cursor {
    /// Which ordering the walk follows, chosen by the first page.
    enum class order : uint8_t { undecided, whole, by_host, by_service } walk = order::undecided;
    /// The last host or service value whose entries were returned.
    std::optional<std::optional<std::string>> last;
    bool done = false;
  };

  /// Appends the next page of entries matching `pred` to `out` and returns
  /// whether more pages may follow. A page holds whole groups of one host (or
  /// one service) in value order, at least `page_size` entries unless the walk
  /// ends, and holds the lock only while it is read, so a streamed answer
  /// never copies the whole result. Small answers (an indexed path with at
  /// most `page_size` candidates) come in one page. An entry present during
  /// the whole walk is returned exactly once; one added or removed meanwhile
  /// may or may not be.
  bool page(const query::predicate& pred, cursor& at, size_t page_size,
            std::vector<event>& out) const;

  /// Returns how `select(pred)` will find its candidates.
  static query_path plan(const query::predicate& pred);

  /// Removes and returns every entry whose `now - time > ttl` (strictly
  /// greater); a full scan, for use without the persistent store.
  std::vector<event> expire(int64_t now_us);

  /// Called by `commit` per change applied, under the index lock: the change's position, the
  /// event now stored (for an erase: the one removed), its expiry deadline (`expiry_deadline`
  /// with the index's default ttl) and the expiry deadline of the entry the change replaced
  /// or erased (nullopt: there was none).
  using applied_fn = std::function<void(size_t i, const event& stored, int64_t deadline,
                                        std::optional<int64_t> previous)>;

  /// Applies prepared changes (already normalized, already persisted by the
  /// caller) under one exclusive lock, so readers see all or none of them. The
  /// events move into the index. An erase of an absent key changes nothing.
  void commit(std::vector<change>& changes, const applied_fn& applied = {});

  /// Called by a marking `commit`, under the index lock, with the event of a put whose entry
  /// did not carry the mark yet (then it does), or of an erase that removed an entry.
  using marked_fn = std::function<void(const event& e)>;

  /// As `commit`, and reports each key it changes for the first time since the caller began
  /// using `mark` (non-zero), without a lookup of its own: the store's set of keys to
  /// checkpoint. A key erased and put again is reported again.
  void commit(std::vector<change>& changes, const applied_fn& applied, uint32_t mark,
              const marked_fn& marked);

  /// Returns whether an entry is stored under an encoded key.
  bool contains(const std::string& encoded_key) const;

  /// Returns whether an entry is stored under the key of `e`, whose hash is `hash`.
  bool contains(uint64_t hash, const event& e) const;

  /// Returns the time of the entry stored under the key of `e` (whose hash is `hash`), or
  /// nullopt when there is none; an entry without a time gives INT64_MIN. Copies nothing, for
  /// newer-wins checks (the replica set's).
  std::optional<int64_t> time_at(uint64_t hash, const event& e) const;

  /// Makes room for `n` entries, so a bulk load does not rehash.
  void reserve(size_t n);

  size_t size() const;

 private:
  using secondary = detail::index_secondary;

  /// Calls `fn` on every entry; callers hold a lock.
  void scan_locked(const std::function<void(const event&)>& fn) const;
  /// The postings lists the previous put of a `commit` used.
  struct put_hint {
    std::optional<secondary::iterator> host;
    std::optional<secondary::iterator> service;
  };

  /// Callers hold a lock. Returns the entry of (host, service), or null.
  detail::index_slot* find_locked(uint64_t hash, const std::optional<std::string>& host,
                                  const std::optional<std::string>& service) const;
  detail::index_slot* find_locked(const index_key& key) const {
    return find_locked(key.hash(), key.host, key.service);
  }
  /// Callers hold the exclusive lock. `hint` may be null. Stores `e` (moved from) and
  /// returns its entry; `previous` receives the deadline of the event it replaced, if any.
  detail::index_slot* put_locked(uint64_t hash, event& e, std::optional<int64_t>& previous,
                                 put_hint* hint = nullptr);
  void erase_locked(detail::index_slot* slot);

  double default_ttl_;
  mutable std::shared_mutex mtx_;
  key_table<detail::index_slot*> entries_;
  secondary by_host_;
  secondary by_service_;
};

}  // namespace dmon
