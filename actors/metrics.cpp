// Renders counter snapshots as Prometheus text and as dmon's own `dmon ...` events.
#include "metrics.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace dmon {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

std::string format_number(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, err] = std::to_chars(buf, buf + sizeof buf, v);
  return err == std::errc{} ? std::string{buf, end} : std::to_string(v);
}

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string escape_label(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// HELP text escapes only backslash and newline.
std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

class exposition {
 public:
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + escape_help(help) + "\n";
    out_ += "# TYPE " + name + " " + type + "\n";
  }

  void sample(const std::string& name, const metric_labels& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0)
          out_ += ',';
        out_ += labels[i].first + "=\"" + escape_label(labels[i].second) + '"';
      }
      out_ += '}';
    }
    out_ += ' ' + value + '\n';
  }

  void sample(const std::string& name, const metric_labels& labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }

  void sample(const std::string& name, const metric_labels& labels, double value) {
    sample(name, labels, format_number(value));
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

metric_labels listener_label(const listener_snapshot& l) {
  return {{"listener", l.name}};
}

metric_labels with(metric_labels labels, std::string key, std::string value) {
  labels.emplace_back(std::move(key), std::move(value));
  return labels;
}

// Renders one counter or gauge family with one sample per element of `items`.
template <class Items, class Labels, class Value>
void per_item(exposition& x, const Items& items, const std::string& name, const char* type,
              const std::string& help, Labels labels, Value value) {
  if (items.empty())
    return;
  x.family(name, type, help);
  for (auto& item : items)
    x.sample(name, labels(item), value(item));
}

void render_listeners(exposition& x, const std::vector<listener_snapshot>& ls) {
  auto label = [](const listener_snapshot& l) { return listener_label(l); };
  per_item(x, ls, "dmon_listener_received_messages_total", "counter",
           "Frames, datagrams, HTTP lines or WebSocket frames received.", label,
           [](auto& l) { return l.messages; });
  per_item(x, ls, "dmon_listener_received_bytes_total", "counter", "Payload bytes received.", label,
           [](auto& l) { return l.bytes; });
  per_item(x, ls, "dmon_listener_accepted_events_total", "counter",
           "Events decoded and handed to the streams.", label,
           [](auto& l) { return l.events_accepted; });
  if (!ls.empty()) {
    std::string name = "dmon_listener_rejected_messages_total";
    x.family(name, "counter",
             "Messages refused, by reason (malformed input or over a size limit).");
    for (auto& l : ls) {
      x.sample(name, with(listener_label(l), "reason", "malformed"), l.messages_rejected);
      x.sample(name, with(listener_label(l), "reason", "too_large"), l.too_large);
    }
    name = "dmon_listener_dropped_events_total";
    x.family(name, "counter", "Decoded events dropped, by reason.");
    for (auto& l : ls)
      x.sample(name, with(listener_label(l), "reason", "queue_full"), l.dropped_events);
    name = "dmon_listener_dropped_messages_total";
    x.family(name, "counter", "Datagrams dropped before decoding, by reason.");
    for (auto& l : ls)
      x.sample(name, with(listener_label(l), "reason", "queue_full"), l.dropped_datagrams);
  }
  per_item(x, ls, "dmon_listener_connections", "gauge", "Open connections.", label,
           [](auto& l) { return l.connections; });
  per_item(x, ls, "dmon_listener_queue_depth", "gauge", "Items waiting in the listener's queue.",
           label, [](auto& l) { return l.queued; });
  std::vector<listener_snapshot> bounded;
  std::copy_if(ls.begin(), ls.end(), std::back_inserter(bounded),
               [](auto& l) { return l.queue_capacity > 0; });
  per_item(x, bounded, "dmon_listener_queue_capacity", "gauge",
           "Configured capacity of the listener's queue.", label,
           [](auto& l) { return l.queue_capacity; });
}

void render_shards(exposition& x, const std::vector<shard_snapshot>& ss) {
  auto label = [](const shard_snapshot& s) {
    return metric_labels{{"shard", std::to_string(s.shard)}};
  };
  per_item(x, ss, "dmon_stream_events_total", "counter", "Events run through the streams.", label,
           [](auto& s) { return s.events_in; });
  if (!ss.empty()) {
    std::string name = "dmon_stream_exceptions_total";
    x.family(name, "counter", "Exceptions raised by stream code, by where they were caught.");
    for (auto& s : ss) {
      x.sample(name, with(label(s), "level", "root"), s.root_exceptions);
      x.sample(name, with(label(s), "level", "child"), s.child_exceptions);
    }
  }
  per_item(x, ss, "dmon_stream_skipped_events_total", "counter",
           "Events not run because a failed stream was being rebuilt.", label,
           [](auto& s) { return s.skipped; });
  per_item(x, ss, "dmon_stream_rebuilds_total", "counter",
           "Times a failed stream module was rebuilt.", label, [](auto& s) { return s.rebuilds; });
  per_item(x, ss, "dmon_stream_reinjected_events_total", "counter",
           "Events streams sent back through the router.", label,
           [](auto& s) { return s.reinjected; });
  per_item(x, ss, "dmon_stream_indexed_events_total", "counter",
           "Events streams wrote to the index.", label, [](auto& s) { return s.indexed; });
  if (!ss.empty()) {
    std::string name = "dmon_stream_regrouped_events_total";
    x.family(name, "counter",
             "Events regroup() sent to their new key's owner (out) and ran here (in).");
    for (auto& s : ss) {
      x.sample(name, with(label(s), "direction", "out"), s.regrouped_out);
      x.sample(name, with(label(s), "direction", "in"), s.regrouped_in);
    }
  }
  per_item(x, ss, "dmon_stream_regroup_unknown_events_total", "counter",
           "Regrouped events refused: this node's module has no regroup() at their address "
           "(every node must load the same stream module).",
           label, [](auto& s) { return s.regroup_unknown; });
}

void render_http(exposition& x, const http_snapshot& h) {
  metric_labels label{{"server", h.name}};
  auto one = [&](const std::string& name, const char* type, const std::string& help,
                 uint64_t value) {
    x.family(name, type, help);
    x.sample(name, label, value);
  };
  one("dmon_http_requests_total", "counter", "HTTP requests and WebSocket upgrades received.",
      h.requests);
  one("dmon_http_subscribers", "gauge", "Open WebSocket and SSE subscriptions.", h.subscribers);
  one("dmon_http_max_subscribers", "gauge", "Configured limit of open subscriptions.",
      h.max_subscribers);
  one("dmon_http_refused_subscribers_total", "counter",
      "Subscriptions refused with 503 because the limit was reached.", h.subscribers_refused);
  std::string name = "dmon_http_dropped_subscribers_total";
  x.family(name, "counter", "Subscribers disconnected by the server, by reason.");
  x.sample(name, with(label, "reason", "slow_consumer"), h.subscribers_dropped_slow);
  one("dmon_http_sent_events_total", "counter", "Events written to subscribers.", h.events_out);
}

void render_histograms(exposition& x, const std::vector<histogram_snapshot>& hs) {
  // One HELP/TYPE per name even when several label sets share it.
  std::map<std::string, std::vector<const histogram_snapshot*>> by_name;
  for (auto& h : hs)
    by_name[h.name].push_back(&h);
  for (auto& [name, group] : by_name) {
    x.family(name, "histogram", group.front()->help);
    for (auto* h : group) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h->counts.size(); ++i) {
        cumulative += h->counts[i];
        auto le = i < h->bounds.size() ? format_number(h->bounds[i]) : std::string{"+Inf"};
        x.sample(name + "_bucket", with(h->labels, "le", le), cumulative);
      }
      x.sample(name + "_sum", h->labels, h->sum);
      x.sample(name + "_count", h->labels, h->count);
    }
  }
}

}  // namespace

std::optional<double> histogram_snapshot::quantile(double q) const {
  if (count == 0 || counts.empty())
    return std::nullopt;
  auto rank = static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen >= rank)
      return i < bounds.size() ? bounds[i] : (bounds.empty() ? 0.0 : bounds.back());
  }
  return bounds.empty() ? 0.0 : bounds.back();
}

void latency_histogram::observe(double seconds) {
  auto it = std::lower_bound(default_bounds.begin(), default_bounds.end(), seconds);
  counts_[static_cast<size_t>(it - default_bounds.begin())].fetch_add(1, relaxed);
  count_.fetch_add(1, relaxed);
  sum_.fetch_add(seconds, relaxed);
}

histogram_snapshot latency_histogram::snapshot(std::string name, std::string help,
                                               metric_labels labels, std::string service) const {
  histogram_snapshot s;
  s.name = std::move(name);
  s.help = std::move(help);
  s.labels = std::move(labels);
  s.service = std::move(service);
  s.bounds.assign(default_bounds.begin(), default_bounds.end());
  for (auto& c : counts_)
    s.counts.push_back(c.load(relaxed));
  // The count is the sum of the buckets read, so _count and +Inf agree even mid-update.
  for (auto c : s.counts)
    s.count += c;
  s.sum = sum_.load(relaxed);
  return s;
}

listener_snapshot snapshot_of(const listener_counters& c, uint64_t queue_capacity) {
  listener_snapshot s;
  s.name = c.name;
  s.messages = c.messages.load(relaxed);
  s.bytes = c.bytes.load(relaxed);
  s.events_accepted = c.events_accepted.load(relaxed);
  s.messages_rejected = c.messages_rejected.load(relaxed);
  s.too_large = c.too_large.load(relaxed);
  s.dropped_events = c.dropped_events.load(relaxed);
  s.dropped_datagrams = c.dropped_datagrams.load(relaxed);
  s.connections = c.connections.load(relaxed);
  s.queued = c.queued.load(relaxed);
  s.queue_capacity = queue_capacity;
  return s;
}

shard_snapshot snapshot_of(int shard, const shard_counters& c) {
  shard_snapshot s;
  s.shard = shard;
  s.events_in = c.events_in.load(relaxed);
  s.root_exceptions = c.root_exceptions.load(relaxed);
  s.child_exceptions = c.child_exceptions.load(relaxed);
  s.skipped = c.skipped.load(relaxed);
  s.rebuilds = c.rebuilds.load(relaxed);
  s.reinjected = c.reinjected.load(relaxed);
  s.indexed = c.indexed.load(relaxed);
  s.regrouped_out = c.regrouped_out.load(relaxed);
  s.regrouped_in = c.regrouped_in.load(relaxed);
  s.regroup_unknown = c.regroup_unknown.load(relaxed);
  return s;
}

process_snapshot read_process() {
  process_snapshot p;
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages)
    p.resident_bytes = resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::ifstream stat{"/proc/self/stat"};
  std::string line;
  if (std::getline(stat, line)) {
    // The command name (field 2) may hold spaces; fields are counted after its ')'.
    auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest{line.substr(close + 2)};
      std::string field;
      uint64_t utime = 0, stime = 0;
      // After ')' come fields 3..; utime and stime are fields 14 and 15.
      for (int i = 3; i <= 13 && rest >> field; ++i) {
      }
      if (rest >> utime >> stime)
        p.cpu_seconds =
            static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  return p;
}

std::string render_prometheus(const metrics_snapshot& s) {
  exposition x;
  render_listeners(x, s.listeners);
  render_shards(x, s.shards);
  if (s.index_size) {
    x.family("dmon_index_entries", "gauge", "Events in the index (latest per host and service).");
    x.sample("dmon_index_entries", {}, *s.index_size);
  }
  if (s.expired) {
    x.family("dmon_index_expired_events_total", "counter",
             "Index entries expired because their TTL passed.");
    x.sample("dmon_index_expired_events_total", {}, *s.expired);
  }
  if (s.http)
    render_http(x, *s.http);
  render_histograms(x, s.histograms);
  x.family("dmon_process_resident_memory_bytes", "gauge", "Resident set size of dmond.");
  x.sample("dmon_process_resident_memory_bytes", {}, s.process.resident_bytes);
  x.family("dmon_process_cpu_seconds_total", "counter", "User and system CPU time of dmond.");
  x.sample("dmon_process_cpu_seconds_total", {}, s.process.cpu_seconds);
  return x.take();
}

namespace {

class event_builder {
 public:
  event_builder(const metrics_snapshot& now, const instrumentation_options& opts)
      : time_us_(now.time_us), opts_(opts) {}

  event& add(std::string service, double metric, const char* state = "ok") {
    event e;
    e.host = opts_.host;
    e.service = "dmon " + std::move(service);
    e.state = state;
    e.time_us = time_us_;
    e.ttl = 2 * opts_.interval;
    e.metric = metric;
    e.tags = {"dmon"};
    return out_.emplace_back(std::move(e));
  }

  std::vector<event> take() { return std::move(out_); }

 private:
  int64_t time_us_;
  const instrumentation_options& opts_;
  std::vector<event> out_;
};

const char* warn_if_positive(double v) {
  return v > 0 ? "warning" : "ok";
}

uint64_t delta(uint64_t now, uint64_t before) {
  // A counter that went down was reset (e.g. a listener restarted): count from zero.
  return now >= before ? now - before : now;
}

}  // namespace

std::vector<event> instrumentation_events(const metrics_snapshot& now,
                                          const metrics_snapshot* before,
                                          const instrumentation_options& opts) {
  event_builder b{now, opts};
  double dt = before ? static_cast<double>(now.time_us - before->time_us) / 1e6 : 0;
  if (dt <= 0)
    before = nullptr;
  auto rate = [&](uint64_t n, uint64_t b) { return static_cast<double>(delta(n, b)) / dt; };

  for (auto& l : now.listeners) {
    std::string prefix = "server " + l.name + " ";
    auto proto = l.name.substr(0, l.name.find(' '));
    bool datagrams = proto.size() >= 3 && proto.compare(proto.size() - 3, 3, "udp") == 0;
    if (!datagrams)
      b.add(prefix + "conns", static_cast<double>(l.connections));
    if (l.queue_capacity > 0) {
      double used = static_cast<double>(l.queued) / static_cast<double>(l.queue_capacity);
      auto& e = b.add(prefix + "queue used", used,
                      used > 0.75  ? "critical"
                      : used > 0.5 ? "warning"
                                   : "ok");
      e.description = std::to_string(l.queued) + " of " + std::to_string(l.queue_capacity) +
                      " queue slots used";
    }
    if (!before)
      continue;
    auto prev = std::find_if(before->listeners.begin(), before->listeners.end(),
                             [&](auto& p) { return p.name == l.name; });
    listener_snapshot zero;
    const auto& p = prev == before->listeners.end() ? zero : *prev;
    b.add(prefix + "in rate", rate(l.messages, p.messages));
    b.add(prefix + "accepted rate", rate(l.events_accepted, p.events_accepted));
    double rejected =
        rate(l.messages_rejected, p.messages_rejected) + rate(l.too_large, p.too_large);
    b.add(prefix + "rejected rate", rejected, warn_if_positive(rejected));
    double dropped =
        rate(l.dropped_events, p.dropped_events) + rate(l.dropped_datagrams, p.dropped_datagrams);
    b.add(prefix + "dropped rate", dropped, warn_if_positive(dropped));
  }

  if (before && !now.shards.empty()) {
    auto sum = [](const metrics_snapshot& s, auto field) {
      uint64_t total = 0;
      for (auto& sh : s.shards)
        total += field(sh);
      return total;
    };
    auto events_in = [](auto& s) { return s.events_in; };
    auto exceptions = [](auto& s) { return s.root_exceptions + s.child_exceptions; };
    b.add("streams rate", rate(sum(now, events_in), sum(*before, events_in)));
    double ex = rate(sum(now, exceptions), sum(*before, exceptions));
    b.add("streams exceptions rate", ex, warn_if_positive(ex));
  }

  if (now.index_size)
    b.add("index size", static_cast<double>(*now.index_size));
  if (before && now.expired && before->expired)
    b.add("index expired rate", rate(*now.expired, *before->expired));

  if (now.http) {
    auto& h = *now.http;
    std::string prefix = "server " + h.name + " ";
    b.add(prefix + "subscribers", static_cast<double>(h.subscribers));
    if (before && before->http) {
      auto& p = *before->http;
      b.add(prefix + "out rate", rate(h.events_out, p.events_out));
      double dropped = rate(h.subscribers_dropped_slow, p.subscribers_dropped_slow) +
                       rate(h.subscribers_refused, p.subscribers_refused);
      auto& e = b.add(prefix + "subscribers dropped rate", dropped, warn_if_positive(dropped));
      e.description = "slow consumers dropped plus subscriptions refused over the limit";
    }
  }

  for (auto& h : now.histograms) {
    if (h.service.empty())
      continue;
    for (double q : {0.5, 0.95, 0.99, 0.999})
      if (auto v = h.quantile(q))
        b.add(h.service + " " + format_number(q), *v * 1000);
  }

  b.add("process rss", static_cast<double>(now.process.resident_bytes)).description =
      "resident set size in bytes";
  if (before) {
    double cpu = (now.process.cpu_seconds - before->process.cpu_seconds) / dt;
    b.add("process cpu", cpu).description = "CPU seconds per second (1 = one core busy)";
  }
  return b.take();
}

}  // namespace dmon
