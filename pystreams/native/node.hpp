// dmon::native::node: one built-in stream in C++, mirroring its Python class (kind, children,
// state).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "native/context.hpp"
#include "native/event_json.hpp"

namespace dmon::native {

class node;
using node_ptr = std::unique_ptr<node>;

/// A stream node. Events go in by push() (or push_list() for the lists coalesce sends) and
/// out to the children, in order. State and its JSON follow the Python class exactly
/// (`_state`/`_restore` for own(), Stream.state/restore for state()), so a checkpoint
/// written by either path restores into the other.
class node {
 public:
  explicit node(std::string kind, std::vector<node_ptr> children = {})
      : kind_(std::move(kind)), children_(std::move(children)) {}
  virtual ~node() = default;
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  virtual void push(const event& e) = 0;
  /// As push(), for an event the caller no longer needs: a node that passes it on unchanged
  /// (or changes a copy it made anyway) hands it to its last child by move, so a sink at the
  /// end of the path keeps it without a copy. The default copies nothing either: it pushes.
  virtual void push_owned(event&& e) { push(e); }
  /// A list of events (only the nodes the compiler lets below coalesce take them).
  virtual void push_list(const std::vector<event>& es);
  /// True when push_list() does what the Python class does with a list.
  virtual bool takes_lists() const { return false; }

  /// A new copy with the same parameters and no state, timers anchored at ctx.now()
  /// (what `by` builds for each new key).
  virtual node_ptr fresh(context& ctx) const = 0;

  /// Cancels this node's timers and those below it (Stream.close).
  virtual void close();

  /// Python `_state()`: this node's own state, null when it keeps none.
  virtual json own_state() const { return nullptr; }
  /// own_state() with only the per-key parts changed (by an event, a timer or a restore)
  /// since the last call, which forgets them (a replication round: `by` forks and `coalesce`
  /// entries); null when none. Other nodes give own_state().
  virtual json take_changed_state() { return own_state(); }
  /// Python `_restore(data)`; `data` may be null.
  virtual void restore_own(const json& data);

  /// Python Stream.state(): {"s": own, "c": [children], "x": {label: other branches}} or null.
  virtual json state() const;
  /// Python Stream.restore().
  virtual void restore(const json& data);

  /// The nodes this one copies for its forks (by's templates); never pushed themselves, they
  /// receive what regroup() nodes below them get back from the owner of the new key.
  virtual std::vector<node*> templates() const { return {}; }

  /// True for a node the host runs (a Python subtree): its state lives there, not here.
  virtual bool hosted() const { return false; }

  /// Every node directly below with its label: "0", "1", ... then "else.0", ...
  virtual std::vector<std::pair<std::string, node*>> branches() const;

  const std::string& kind() const { return kind_; }
  const std::vector<node_ptr>& children() const { return children_; }

 protected:
  void emit(const event& e) const {
    for (auto& c : children_)
      c->push(e);
  }
  /// emit() of an event this node no longer needs: the last child takes it (push_owned),
  /// the others see it first, in the same order as emit().
  void emit_owned(event&& e) const { push_all_owned(children_, std::move(e)); }
  static void push_all_owned(const std::vector<node_ptr>& to, event&& e) {
    if (to.empty())
      return;
    for (size_t i = 0; i + 1 < to.size(); ++i)
      to[i]->push(e);
    to.back()->push_owned(std::move(e));
  }
  void emit_list(const std::vector<event>& es) const {
    for (auto& c : children_)
      c->push_list(es);
  }
  std::vector<node_ptr> fresh_children(context& ctx) const { return fresh_all(children_, ctx); }
  static std::vector<node_ptr> fresh_all(const std::vector<node_ptr>& v, context& ctx);

  std::string kind_;
  std::vector<node_ptr> children_;
};

/// Every node of the graph under `root` with its dmon.state path, depth first
/// (dmon.state.walk: "where", "where/0:rate", "where/else.0:index").
std::vector<std::pair<std::string, node*>> walk(node& root);
/// The same under `n`, whose own path is `path` (a regroup in a by template).
std::vector<std::pair<std::string, node*>> walk(node& n, const std::string& path);

}  // namespace dmon::native
