// In-memory index with Riemann's rules; the persistent store keeps one as its read cache.
#include "index.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <thread>

#include "name_hash.hpp"
#include "query/ast.hpp"

namespace dmon {

namespace {

void append_part(std::string& out, const std::optional<std::string>& part) {
  if (!part) {
    out.push_back('\0');
    return;
  }
  out.push_back('\1');
  // Names rarely hold the two escaped bytes: then the part is one append, not a loop. (Not
  // find_first_of: libstdc++ runs a memchr over the set per byte of the name.)
  if (std::none_of(part->begin(), part->end(), [](char c) { return c == '\0' || c == '\xff'; })) {
    out.append(*part);
    out.push_back('\0');
    return;
  }
  for (char c : *part) {
    if (c == '\0') {
      out.push_back('\xff');
      out.push_back('\x01');
    } else if (c == '\xff') {
      out.push_back('\xff');
      out.push_back('\x02');
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\0');
}

/// How to find the candidates of a query: which path, and the value(s) it needs.
struct access {
  query_path path = query_path::scan;
  /// host (lookup, host, host_prefix) and service (lookup, service, service_prefix).
  std::optional<std::string> host;
  std::optional<std::string> service;
};

/// Lower is better: fewer candidates in general.
int rank(query_path p) {
  switch (p) {
    case query_path::lookup:
      return 0;
    case query_path::host:
    case query_path::service:
      return 1;
    case query_path::host_prefix:
    case query_path::service_prefix:
      return 2;
    case query_path::scan:
      break;
  }
  return 3;
}

const query::field_ref* key_field(const query::operand& o) {
  auto* f = std::get_if<query::field_ref>(&o);
  if (f && (f->id == query::field_id::host || f->id == query::field_id::service))
    return f;
  return nullptr;
}

/// `field = literal` where the literal is a string or nil, the only values a
/// host or service can equal; anything else is left to the scan.
access analyze_equal(const query::operand& field_side, const query::operand& value_side) {
  auto* f = key_field(field_side);
  if (!f)
    return {};
  std::optional<std::string> value;
  if (auto* s = std::get_if<std::string>(&value_side))
    value = *s;
  else if (!std::holds_alternative<std::monostate>(value_side))
    return {};
  if (f->id == query::field_id::host)
    return {query_path::host, std::move(value), std::nullopt};
  return {query_path::service, std::nullopt, std::move(value)};
}

access analyze(const query::node& n) {
  if (auto* c = std::get_if<query::compare_node>(&n.v)) {
    if (c->op != query::compare_op::eq)
      return {};
    auto a = analyze_equal(c->lhs, c->rhs);
    return a.path != query_path::scan ? a : analyze_equal(c->rhs, c->lhs);
  }
  if (auto* l = std::get_if<query::like_node>(&n.v)) {
    auto* f = key_field(l->subject);
    if (!f)
      return {};
    bool is_host = f->id == query::field_id::host;
    // No wildcard: LIKE is string equality (it never matches nil, nor does `= "x"`).
    if (l->segments.size() == 1)
      return is_host ? access{query_path::host, l->segments[0], std::nullopt}
                     : access{query_path::service, std::nullopt, l->segments[0]};
    if (l->segments.size() == 2 && l->segments[1].empty())
      return is_host ? access{query_path::host_prefix, l->segments[0], std::nullopt}
                     : access{query_path::service_prefix, std::nullopt, l->segments[0]};
    return {};
  }
  if (auto* a = std::get_if<query::and_node>(&n.v)) {
    access best;
    std::optional<access> host_eq, service_eq;
    for (auto& child : a->children) {
      auto c = analyze(*child);
      if (c.path == query_path::host && !host_eq)
        host_eq = c;
      if (c.path == query_path::service && !service_eq)
        service_eq = c;
      if (rank(c.path) < rank(best.path))
        best = std::move(c);
    }
    if (host_eq && service_eq)
      return {query_path::lookup, host_eq->host, service_eq->service};
    return best;
  }
  return {};
}

access analyze(const query::predicate& pred) {
  if (auto key = pred.exact_key())
    return {query_path::lookup, key->first, key->second};
  return analyze(pred.root());
}

using secondary = detail::index_secondary;

// Brings an entry's cache lines in ahead of use. The entries of one host or
// service lie anywhere in the heap, so a query that walks them waits on one
// memory miss per entry unless the next ones are already on their way.
void prefetch(const detail::index_slot* p) {
  auto* bytes = reinterpret_cast<const char*>(p);
  for (size_t off = 0; off < sizeof(*p); off += 64)
    __builtin_prefetch(bytes + off);
}

// Calls `fn` on every entry of `list`, prefetching a few entries ahead.
template <class F>
void for_each_posting(const std::vector<detail::index_slot*>& list, F&& fn) {
  constexpr size_t ahead = 8;
  size_t n = list.size();
  for (size_t i = 0; i < std::min(ahead, n); ++i)
    prefetch(list[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + ahead < n)
      prefetch(list[i + ahead]);
    fn(*list[i]);
  }
}

void collect_postings(const std::vector<detail::index_slot*>& entries, const query::predicate& pred,
                      std::vector<event>& out) {
  for_each_posting(entries, [&](const detail::index_slot& entry) {
    if (pred.matches(entry.e))
      out.push_back(entry.e);
  });
}

// Returns the range of `by` whose values start with `prefix` (never nil: LIKE
// is false on non-strings). Values are ordered, so the range is contiguous.
std::pair<secondary::const_iterator, secondary::const_iterator> prefix_range(
    const secondary& by, const std::string& prefix) {
  auto first = by.lower_bound(prefix);
  auto last = first;
  while (last != by.end() && last->first && std::string_view{*last->first}.starts_with(prefix))
    ++last;
  return {first, last};
}

void collect(const secondary& by, const std::optional<std::string>& value, bool prefix,
             const query::predicate& pred, std::vector<event>& out) {
  if (!prefix) {
    if (auto i = by.find(value); i != by.end()) {
      out.reserve(i->second.size());
      collect_postings(i->second, pred, out);
    }
    return;
  }
  auto [first, last] = prefix_range(by, *value);
  size_t candidates = 0;
  for (auto i = first; i != last; ++i)
    candidates += i->second.size();
  out.reserve(candidates);
  for (auto i = first; i != last; ++i)
    collect_postings(i->second, pred, out);
}

}  // namespace

std::string index_key::encode() const {
  std::string out;
  out.reserve(4 + (host ? host->size() : 0) + (service ? service->size() : 0));
  append_part(out, host);
  append_part(out, service);
  return out;
}

std::string index_key::encode(const event& e) {
  std::string out;
  encode_to(e, out);
  return out;
}

void index_key::encode_to(const event& e, std::string& out) {
  out.reserve(out.size() + 4 + (e.host ? e.host->size() : 0) + (e.service ? e.service->size() : 0));
  append_part(out, e.host);
  append_part(out, e.service);
}

std::optional<index_key> index_key::decode(std::string_view bytes) {
  // One part: "\0" (absent) or "\1" + escaped bytes + "\0"; see encode().
  auto part = [&](std::optional<std::string>& out) {
    if (bytes.empty())
      return false;
    char tag = bytes.front();
    bytes.remove_prefix(1);
    if (tag == '\0')
      return true;
    if (tag != '\1')
      return false;
    std::string value;
    while (!bytes.empty()) {
      char c = bytes.front();
      bytes.remove_prefix(1);
      if (c == '\0') {
        out = std::move(value);
        return true;
      }
      if (c == '\xff') {
        if (bytes.empty() || (bytes.front() != '\x01' && bytes.front() != '\x02'))
          return false;
        value.push_back(bytes.front() == '\x01' ? '\0' : '\xff');
        bytes.remove_prefix(1);
      } else {
        value.push_back(c);
      }
    }
    return false;
  };
  index_key key;
  if (!part(key.host) || !part(key.service) || !bytes.empty())
    return std::nullopt;
  return key;
}

uint64_t index_key::hash(const std::optional<std::string>& host,
                         const std::optional<std::string>& service) {
  // An absent part hashes to a constant no string is likely to hash to; a collision would
  // only cost a comparison (tables compare the parts on equal hashes).
  constexpr uint64_t nil = 0x9e3779b97f4a7c15ull;
  auto part = [](const std::optional<std::string>& p) -> uint64_t {
    return p ? name_hash::of(*p) : nil;
  };
  // splitmix64's finalizer over the two part hashes: tables index by the low bits.
  uint64_t z = part(host) * 0xff51afd7ed558ccdull + part(service);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t expiry_deadline(const event& e, double default_ttl_seconds) {
  constexpr auto max = std::numeric_limits<int64_t>::max();
  constexpr auto min = std::numeric_limits<int64_t>::min();
  double ttl = e.ttl.value_or(default_ttl_seconds);
  if (std::isnan(ttl))
    return max;
  // now - time > x  <=>  now - time > floor(x) for integer microseconds, so the
  // deadline is exact in integers even for fractional ttls.
  double span = std::floor(ttl * 1e6);
  int64_t time = e.time_us.value_or(0);
  if (span >= 9.2e18)
    return max;
  if (span <= -9.2e18)
    return min;
  int64_t out;
  if (__builtin_add_overflow(time, static_cast<int64_t>(span), &out))
    return span > 0 ? max : min;
  return out;
}

const char* to_string(query_path path) {
  switch (path) {
    case query_path::lookup:
      return "lookup";
    case query_path::host:
      return "host";
    case query_path::service:
      return "service";
    case query_path::host_prefix:
      return "host_prefix";
    case query_path::service_prefix:
      return "service_prefix";
    case query_path::scan:
      break;
  }
  return "scan";
}

event index::prepare(event e, int64_t now_us) const {
  if (!e.ttl)
    e.ttl = default_ttl_;
  if (!e.time_us)
    e.time_us = now_us;
  return e;
}

index::~index() {
  entries_.for_each([](detail::index_slot* slot) { delete slot; });
}

std::optional<event> index::insert(event e) {
  auto hash = index_key::hash(e);
  if (e.state && *e.state == "expired") {
    std::unique_lock lock{mtx_};
    if (auto* slot = find_locked(hash, e.host, e.service))
      erase_locked(slot);
    return std::nullopt;
  }
  e = prepare(std::move(e), now_micros());
  event copy = e;
  std::optional<int64_t> previous;
  std::unique_lock lock{mtx_};
  put_locked(hash, e, previous);
  return copy;
}

bool index::remove(const index_key& key) {
  std::unique_lock lock{mtx_};
  auto* slot = find_locked(key);
  if (!slot)
    return false;
  erase_locked(slot);
  return true;
}

std::optional<event> index::lookup(const index_key& key) const {
  std::shared_lock lock{mtx_};
  if (auto* slot = find_locked(key))
    return slot->e;
  return std::nullopt;
}

void index::read_keys(std::span<const index_key> keys,
                      const std::function<void(const index_key&, const event*)>& fn) const {
  constexpr size_t chunk = 256;
  for (size_t from = 0; from < keys.size(); from += chunk) {
    if (from != 0)
      // Lets a writer that waited for the chunk take the lock before the next one.
      std::this_thread::yield();
    std::shared_lock lock{mtx_};
    for (size_t i = from; i < std::min(keys.size(), from + chunk); ++i) {
      auto* slot = find_locked(keys[i]);
      fn(keys[i], slot ? &slot->e : nullptr);
    }
  }
}

std::optional<event> index::find(const std::string& encoded_key) const {
  auto key = index_key::decode(encoded_key);
  if (!key)
    return std::nullopt;
  std::shared_lock lock{mtx_};
  if (auto* slot = find_locked(*key))
    return slot->e;
  return std::nullopt;
}

std::optional<int64_t> index::deadline_of(const std::string& encoded_key) const {
  auto key = index_key::decode(encoded_key);
  if (!key)
    return std::nullopt;
  std::shared_lock lock{mtx_};
  if (auto* slot = find_locked(*key))
    return slot->deadline;
  return std::nullopt;
}

std::vector<event> index::select(const std::function<bool(const event&)>& pred) const {
  std::vector<event> out;
  std::shared_lock lock{mtx_};
  scan_locked([&](const event& e) {
    if (pred(e))
      out.push_back(e);
  });
  return out;
}

query_path index::plan(const query::predicate& pred) {
  return analyze(pred).path;
}

std::vector<event> index::select(const query::predicate& pred) const {
  auto a = analyze(pred);
  std::vector<event> out;
  std::shared_lock lock{mtx_};
  switch (a.path) {
    case query_path::lookup: {
      if (auto* slot = find_locked(index_key::hash(a.host, a.service), a.host, a.service);
          slot && pred.matches(slot->e))
        out.push_back(slot->e);
      break;
    }
    case query_path::host:
      collect(by_host_, a.host, false, pred, out);
      break;
    case query_path::host_prefix:
      collect(by_host_, a.host, true, pred, out);
      break;
    case query_path::service:
      collect(by_service_, a.service, false, pred, out);
      break;
    case query_path::service_prefix:
      collect(by_service_, a.service, true, pred, out);
      break;
    case query_path::scan:
      scan_locked([&](const event& e) {
        if (pred.matches(e))
          out.push_back(e);
      });
      break;
  }
  return out;
}

namespace {

// Calls `fn` on every entry matching `pred` among the candidates of path `a`;
// the caller holds the index lock.
size_t visit_matches(const detail::index_slot* lookup, const secondary& by_host,
                     const secondary& by_service, const access& a, const query::predicate& pred,
                     const std::function<void(const event&)>& fn) {
  size_t n = 0;
  auto each = [&](const detail::index_slot& entry) {
    if (pred.matches(entry.e)) {
      fn(entry.e);
      ++n;
    }
  };
  auto groups = [&](const secondary& by, const std::optional<std::string>& value, bool prefix) {
    if (!prefix) {
      if (auto i = by.find(value); i != by.end())
        for_each_posting(i->second, each);
      return;
    }
    auto [first, last] = prefix_range(by, *value);
    for (auto i = first; i != last; ++i)
      for_each_posting(i->second, each);
  };
  switch (a.path) {
    case query_path::lookup:
      if (lookup)
        each(*lookup);
      break;
    case query_path::host:
      groups(by_host, a.host, false);
      break;
    case query_path::host_prefix:
      groups(by_host, a.host, true);
      break;
    case query_path::service:
      groups(by_service, a.service, false);
      break;
    case query_path::service_prefix:
      groups(by_service, a.service, true);
      break;
    case query_path::scan:
      for (auto& [host, list] : by_host)
        for_each_posting(list, each);
      break;
  }
  return n;
}

// Returns how many entries path `a` examines (an upper bound on its matches).
size_t candidates(size_t entries, const secondary& by_host, const secondary& by_service,
                  const access& a) {
  auto count = [](const secondary& by, const std::optional<std::string>& value, bool prefix) {
    if (!prefix) {
      auto i = by.find(value);
      return i == by.end() ? size_t{0} : i->second.size();
    }
    size_t n = 0;
    auto [first, last] = prefix_range(by, *value);
    for (auto i = first; i != last; ++i)
      n += i->second.size();
    return n;
  };
  switch (a.path) {
    case query_path::lookup:
      return 1;
    case query_path::host:
      return count(by_host, a.host, false);
    case query_path::host_prefix:
      return count(by_host, a.host, true);
    case query_path::service:
      return count(by_service, a.service, false);
    case query_path::service_prefix:
      return count(by_service, a.service, true);
    case query_path::scan:
      break;
  }
  return entries;
}

}  // namespace

size_t index::visit(const query::predicate& pred,
                    const std::function<void(const event&)>& fn) const {
  std::shared_lock lock{mtx_};
  auto a = analyze(pred);
  auto* lookup = a.path == query_path::lookup
                     ? find_locked(index_key::hash(a.host, a.service), a.host, a.service)
                     : nullptr;
  return visit_matches(lookup, by_host_, by_service_, a, pred, fn);
}

bool index::page(const query::predicate& pred, cursor& at, size_t page_size,
                 std::vector<event>& out) const {
  if (at.done)
    return false;
  page_size = std::max<size_t>(page_size, 1);
  std::shared_lock lock{mtx_};
  if (at.walk == cursor::order::undecided) {
    auto a = analyze(pred);
    if (a.path != query_path::scan &&
        candidates(entries_.size(), by_host_, by_service_, a) <= page_size) {
      // Small enough for one page: take it through the index.
      auto* lookup = a.path == query_path::lookup
                         ? find_locked(index_key::hash(a.host, a.service), a.host, a.service)
                         : nullptr;
      visit_matches(lookup, by_host_, by_service_, a, pred,
                    [&](const event& e) { out.push_back(e); });
      at.walk = cursor::order::whole;
      at.done = true;
      return false;
    }
    // Too many for one page: walk one of the orderings group by group. A host
    // query walks the services (its candidates all share one host, which
    // would be a single group), anything else the hosts.
    bool by_host_query = a.path == query_path::host || a.path == query_path::host_prefix;
    at.walk = by_host_query ? cursor::order::by_service : cursor::order::by_host;
  }
  const auto& by = at.walk == cursor::order::by_host ? by_host_ : by_service_;
  auto i = at.last ? by.upper_bound(*at.last) : by.begin();
  // Bounded by entries examined too, so a rare match does not hold the lock
  // for a whole scan: such a page may come back empty with more to follow.
  size_t got = 0, examined = 0;
  for (; i != by.end() && got < page_size && examined < 16 * page_size; ++i) {
    examined += i->second.size();
    for_each_posting(i->second, [&](const detail::index_slot& entry) {
      if (pred.matches(entry.e)) {
        out.push_back(entry.e);
        ++got;
      }
    });
    at.last = i->first;
  }
  at.done = i == by.end();
  return !at.done;
}

void index::scan_locked(const std::function<void(const event&)>& fn) const {
  // Through the host postings rather than the hash table: every entry is in
  // exactly one host's list, and arrays of pointers can be prefetched where
  // the table's node chain cannot.
  for (auto& [host, list] : by_host_)
    for_each_posting(list, [&](const detail::index_slot& entry) { fn(entry.e); });
}

std::vector<event> index::expire(int64_t now_us) {
  std::vector<event> out;
  std::unique_lock lock{mtx_};
  // Collected first: erasing reorders the table and the postings being walked.
  std::vector<detail::index_slot*> due;
  entries_.for_each([&](detail::index_slot* slot) {
    if (now_us > slot->deadline)
      due.push_back(slot);
  });
  out.reserve(due.size());
  for (auto* slot : due) {
    // A copy: the erase reads the entry's host and service.
    out.push_back(slot->e);
    erase_locked(slot);
  }
  return out;
}

void index::commit(std::vector<change>& changes, const applied_fn& applied) {
  commit(changes, applied, 0, {});
}

void index::commit(std::vector<change>& changes, const applied_fn& applied, uint32_t mark,
                   const marked_fn& marked) {
  std::unique_lock lock{mtx_};
  put_hint hint;
  // The table and the entries are far larger than the caches, and each change found its slot
  // and then its entry with a cache miss each (most of put_locked's time in the index()
  // profile). So the slot of a change a few ahead is loaded early, and the entry of the change
  // half as far ahead, whose slot is in the cache by then.
  constexpr size_t slot_ahead = 16, entry_ahead = 8;
  size_t n = changes.size();
  for (size_t i = 0; i < std::min(slot_ahead, n); ++i)
    entries_.prefetch(changes[i].hash);
  for (size_t i = 0; i < std::min(entry_ahead, n); ++i)
    if (auto* slot = entries_.guess(changes[i].hash))
      prefetch(*slot);
  for (size_t i = 0; i < n; ++i) {
    if (i + slot_ahead < n)
      entries_.prefetch(changes[i + slot_ahead].hash);
    if (i + entry_ahead < n)
      if (auto* slot = entries_.guess(changes[i + entry_ahead].hash))
        prefetch(*slot);
    auto& c = changes[i];
    std::optional<int64_t> previous;
    if (!c.erase) {
      auto* slot = put_locked(c.hash, c.e, previous, &hint);
      if (applied)
        applied(i, slot->e, slot->deadline, previous);
      if (mark != 0 && slot->mark != mark) {
        slot->mark = mark;
        marked(slot->e);
      }
    } else if (auto* slot = find_locked(c.hash, c.e.host, c.e.service)) {
      previous = slot->deadline;
      if (applied)
        applied(i, slot->e, slot->deadline, previous);
      if (mark != 0)
        marked(slot->e);
      erase_locked(slot);
      // The erase may have dropped the list the hint points to.
      hint = {};
    }
  }
}

bool index::contains(const std::string& encoded_key) const {
  auto key = index_key::decode(encoded_key);
  if (!key)
    return false;
  std::shared_lock lock{mtx_};
  return find_locked(*key) != nullptr;
}

bool index::contains(uint64_t hash, const event& e) const {
  std::shared_lock lock{mtx_};
  return find_locked(hash, e.host, e.service) != nullptr;
}

std::optional<int64_t> index::time_at(uint64_t hash, const event& e) const {
  std::shared_lock lock{mtx_};
  auto* slot = find_locked(hash, e.host, e.service);
  if (!slot)
    return std::nullopt;
  return slot->e.time_us ? *slot->e.time_us : std::numeric_limits<int64_t>::min();
}

size_t index::size() const {
  std::shared_lock lock{mtx_};
  return entries_.size();
}

detail::index_slot* index::find_locked(uint64_t hash, const std::optional<std::string>& host,
                                       const std::optional<std::string>& service) const {
  auto* found = entries_.find(hash, [&](const detail::index_slot* slot) {
    return slot->e.host == host && slot->e.service == service;
  });
  return found ? *found : nullptr;
}

detail::index_slot* index::put_locked(uint64_t hash, event& e, std::optional<int64_t>& previous,
                                      put_hint* hint) {
  auto [slot, added] = entries_.find_or_add(
      hash,
      [&](const detail::index_slot* s) { return s->e.host == e.host && s->e.service == e.service; },
      [] { return new detail::index_slot; });
  auto* entry = slot;
  auto deadline = expiry_deadline(e, default_ttl_);
  // Host and service are part of the key, so replacing the event of an
  // existing key leaves its postings unchanged.
  if (!added) {
    previous = entry->deadline;
    entry->e = std::move(e);
    entry->deadline = deadline;
    return entry;
  }
  previous.reset();
  entry->e = std::move(e);
  entry->deadline = deadline;
  entry->hash = hash;
  put_hint none;
  if (!hint)
    hint = &none;
  // Consecutive puts often share a host (a rebuild reads keys in host order)
  // or a service (a batch of one service from many hosts); the hint saves
  // the ordered map's string comparisons then.
  auto list_for =
      [](secondary& by, const std::optional<std::string>& value,
         std::optional<secondary::iterator>& last) -> std::vector<detail::index_slot*>& {
    if (!last || (*last)->first != value)
      last = by.try_emplace(value).first;
    return (*last)->second;
  };
  auto& hosts = list_for(by_host_, entry->e.host, hint->host);
  entry->host_pos = static_cast<uint32_t>(hosts.size());
  hosts.push_back(entry);
  auto& services = list_for(by_service_, entry->e.service, hint->service);
  entry->service_pos = static_cast<uint32_t>(services.size());
  services.push_back(entry);
  return entry;
}

void index::erase_locked(detail::index_slot* slot) {
  auto drop = [&](secondary& by, const std::optional<std::string>& value,
                  uint32_t detail::index_slot::*pos) {
    auto p = by.find(value);
    if (p == by.end())
      return;
    auto& list = p->second;
    auto at = slot->*pos;
    // Swap-remove: the last entry takes this one's place and learns its new position.
    list[at] = list.back();
    list[at]->*pos = at;
    list.pop_back();
    if (list.empty())
      by.erase(p);
  };
  drop(by_host_, slot->e.host, &detail::index_slot::host_pos);
  drop(by_service_, slot->e.service, &detail::index_slot::service_pos);
  entries_.erase(slot->hash, [&](const detail::index_slot* s) { return s == slot; });
  delete slot;
}

void index::reserve(size_t n) {
  std::unique_lock lock{mtx_};
  entries_.reserve(n);
}

}  // namespace dmon
