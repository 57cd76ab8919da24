// dmon::node: the one composition root; builds, starts and stops every component of a node.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config.hpp"
#include "event.hpp"
#include "index.hpp"

namespace dmon {

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
/// later; node::run() waits for them. Call first thing in main.
void block_shutdown_signals();

/// Answers a Riemann query string from the index, through the path `index::plan`
/// picks (a lookup, a host or service range, or a scan); an empty one matches nothing.
result<std::vector<event>> query_index(const index& idx, const std::string& text);

/// Like `query_index`, but calls `fn` with each match instead of returning them
/// all: the matches are read a page at a time (`index::page`) and `fn` runs
/// outside the index lock. Returns the number of matches.
result<size_t> visit_index(const index& idx, const std::string& text,
                           const std::function<void(const event&)>& fn);

/// Returns a pager over the matches of `text`: each call appends the next page
/// (about `page_size` events, see `index::page`) and says whether more may follow.
result<std::function<bool(std::vector<event>&)>> page_index(const index& idx,
                                                            const std::string& text,
                                                            size_t page_size);

/// Starts the interpreter, loads the stream module once per shard (a failure
/// ends startup with the traceback), spawns the stream, router and reaper actors,
/// opens the listeners, then serves until SIGINT/SIGTERM. On a signal it stops
/// accepting, drains what was accepted (up to drain_timeout) and shuts down in
/// reverse order. Returns the process exit code: 0 after a clean drain, 1 when
/// draining timed out, 2 for a bad setup (config, ports, stream module).
int run_node(const config& cfg);

}  // namespace dmon
