// Public entry point of the query library: parse Riemann query text into a shareable predicate.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "error.hpp"
#include "event.hpp"

namespace dmon::query {

struct node;

/// The index key of an event: host and service, either of which may be nil.
using exact_key_type = std::pair<std::optional<std::string>, std::optional<std::string>>;

/// A compiled Riemann query. Immutable after `parse`; copies share one AST
/// (a `shared_ptr` inside), so it is cheap to copy, to cache and to send to
/// other actors, and `matches` may run on many threads at once.
class predicate {
 public:
  /// Returns whether `e` satisfies the query (Riemann semantics; see
  /// storage/query/README.md for the decisions where dmon's event differs).
  bool matches(const event& e) const;

  /// Returns host and service when the query is exactly `host = H and
  /// service = S` (either order, either side of each `=`, each value a string
  /// or nil), the shape Riemann's index answers with one lookup instead of a
  /// scan; nullopt for every other query.
  std::optional<exact_key_type> exact_key() const;

  /// Returns the query in canonical form: one space around operators, only
  /// the parentheses the structure needs, escaped strings. Re-parsing it
  /// gives the same predicate.
  std::string to_string() const;

  /// Returns the AST, for tests and for other evaluators.
  const node& root() const { return *root_; }

 private:
  friend result<predicate> parse(std::string_view text);

  explicit predicate(std::shared_ptr<const node> root) : root_(std::move(root)) {}

  std::shared_ptr<const node> root_;
};

/// Parses and compiles `text` (RIEMANN.md §3.1). Returns `ec::bad_query` with
/// a message naming the column, what was expected and what was found, e.g.
/// "parse error at column 10: expected a number after '>' but found the
/// string "x" in 'metric > "x"'".
result<predicate> parse(std::string_view text);

/// A thread-safe LRU cache of compiled predicates keyed by query text, as
/// Riemann keeps 64 compiled queries. Failed parses are not cached.
class predicate_cache {
 public:
  /// Default: 64 entries, Riemann's size.
  explicit predicate_cache(size_t capacity = 64) : capacity_(capacity == 0 ? 1 : capacity) {}

  predicate_cache(const predicate_cache&) = delete;
  predicate_cache& operator=(const predicate_cache&) = delete;

  /// Returns the cached predicate for `text`, parsing and caching it on a
  /// miss (the least recently used entry is evicted when full).
  result<predicate> parse(std::string_view text);

  /// Returns the number of cached predicates.
  size_t size() const;

 private:
  using entry = std::pair<std::string, predicate>;

  size_t capacity_;
  mutable std::mutex mtx_;
  /// Most recently used first.
  std::list<entry> lru_;
  /// Keys view the strings inside lru_, whose nodes never move.
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
};

/// Returns `parse(text)` through one process-wide predicate_cache.
result<predicate> parse_cached(std::string_view text);

}  // namespace dmon::query
