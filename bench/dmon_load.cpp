// dmon-load: a Riemann-protocol load generator (TCP/UDP protobuf, JSON datagrams) reporting rate
// and ack latency.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "frame_decoder.hpp"
#include "histogram.hpp"
#include "json_codec.hpp"
#include "protobuf_codec.hpp"

namespace {

using dmon::bench::histogram;

struct options {
  std::string proto = "tcp";  // tcp | udp | json
  std::string host = "127.0.0.1";
  uint16_t port = 5555;
  std::vector<std::string> targets;  // host:port list; TCP connections go round-robin over it
  std::string keys_file;             // "host service" per line instead of --hosts x --services
  int connections = 1;
  int pipeline = 16;
  int events_per_msg = 100;
  double rate = 0;  // events/s; 0 = closed loop (TCP) or unthrottled (UDP)
  uint64_t max_events = 10'000'000;
  double duration = 5;
  double drain_timeout = 10;
  uint64_t hosts = 100;
  uint64_t services = 100;
  std::string metric = "uniform";  // const | uniform | normal | exp
  double warning_fraction = 0;
  uint64_t pool_events = 0;  // 0: enough to cover every key once (at least 10k)
  uint64_t seed = 42;
  bool quiet = false;
  std::string timeline;  // TCP: one line per acked message to this file
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "dmon-load: " << what << "\n";
  std::exit(2);
}

// Pre-encoding the traffic keeps the generator's own cost low and equal for every
// server it drives, so the ratio dmond / dmon-ackd compares servers, not encoders.
// A key list lets a cluster bench send each node only the keys it owns.
std::vector<std::pair<std::string, std::string>> read_keys(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> keys;
  std::ifstream in{path};
  if (!in)
    die("cannot read --keys-file " + path);
  std::string host, service;
  while (in >> host >> service)
    keys.emplace_back(host, service);
  if (keys.empty())
    die("--keys-file " + path + " holds no 'host service' lines");
  return keys;
}

std::vector<std::string> build_pool(const options& o, uint64_t& keys_out) {
  std::vector<std::pair<std::string, std::string>> listed;
  if (!o.keys_file.empty())
    listed = read_keys(o.keys_file);
  uint64_t keys = listed.empty() ? std::max<uint64_t>(1, o.hosts * o.services) : listed.size();
  keys_out = keys;
  uint64_t want = o.pool_events ? o.pool_events : std::max<uint64_t>(keys, 10'000);
  want = std::min<uint64_t>(want, 4'000'000);
  int per_msg = o.proto == "json" ? 1 : o.events_per_msg;
  uint64_t msgs = std::max<uint64_t>(1, (want + per_msg - 1) / per_msg);
  std::mt19937_64 rng{o.seed};
  std::uniform_real_distribution<double> uniform{0, 100};
  std::normal_distribution<double> normal{50, 15};
  std::exponential_distribution<double> expo{1.0 / 20};
  std::bernoulli_distribution warn{o.warning_fraction};
  auto metric = [&]() -> double {
    if (o.metric == "const")
      return 1;
    if (o.metric == "normal")
      return normal(rng);
    if (o.metric == "exp")
      return expo(rng);
    return uniform(rng);
  };
  int64_t now_us = dmon::now_micros();
  std::vector<std::string> pool;
  pool.reserve(msgs);
  uint64_t key = 0;
  std::vector<dmon::event> batch;
  for (uint64_t m = 0; m < msgs; ++m) {
    batch.clear();
    for (int i = 0; i < per_msg; ++i, key = (key + 1) % keys) {
      dmon::event e;
      if (listed.empty()) {
        e.host = fmt::format("host-{}", key / o.services);
        e.service = fmt::format("svc-{}", key % o.services);
      } else {
        e.host = listed[key].first;
        e.service = listed[key].second;
      }
      e.state = warn(rng) ? "warning" : "ok";
      e.time_us = now_us;
      e.ttl = 60;
      e.metric = metric();
      batch.push_back(std::move(e));
    }
    if (o.proto == "json")
      pool.push_back(dmon::json_codec::encode(batch.front()));
    else if (o.proto == "udp")
      pool.push_back(dmon::protobuf_codec::encode_events(batch));
    else
      pool.push_back(dmon::frame_decoder::frame(dmon::protobuf_codec::encode_events(batch)));
  }
  return pool;
}

sockaddr_in address(const std::string& host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    die("'" + host + "' is not an IPv4 address");
  return a;
}

sockaddr_in target(const options& o) {
  return address(o.host, o.port);
}

// --targets, or --host/--port alone.
std::vector<sockaddr_in> all_targets(const options& o) {
  if (o.targets.empty())
    return {target(o)};
  std::vector<sockaddr_in> out;
  for (auto& t : o.targets) {
    auto colon = t.rfind(':');
    if (colon == std::string::npos)
      die("--targets wants host:port, got '" + t + "'");
    int port = std::atoi(t.c_str() + colon + 1);
    if (port <= 0 || port > 65535)
      die("--targets: bad port in '" + t + "'");
    out.push_back(address(t.substr(0, colon), static_cast<uint16_t>(port)));
  }
  return out;
}

struct report {
  uint64_t events_sent = 0;
  uint64_t msgs_sent = 0;
  uint64_t events_acked = 0;
  uint64_t msgs_acked = 0;
  uint64_t errors = 0;      // ok=false replies
  uint64_t unanswered = 0;  // messages still unacked at the drain deadline
  uint64_t send_errors = 0;
  std::string first_error;
  double elapsed_s = 0;
  double cpu_s = 0;   // this process's CPU during the run, to see what the generator took
  histogram latency;  // ns
};

struct tcp_conn {
  int fd = -1;
  std::string out;
  size_t out_pos = 0;
  struct sent {
    int64_t intended;  // when the message was due (open loop) or queued (closed loop)
    int64_t queued;    // when the generator got to it: later than intended if it ran late
  };
  std::deque<sent> inflight;    // in reply order
  std::deque<int64_t> backlog;  // open loop: due but held back by the pipeline cap
  std::string in;
  size_t in_len = 0;
  bool closed = false;
  bool want_out = false;
};

class tcp_load {
 public:
  tcp_load(const options& o, std::vector<std::string> pool) : o_(o), pool_(std::move(pool)) {}

  report run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    auto addrs = all_targets(o_);
    conns_.resize(o_.connections);
    for (size_t i = 0; i < conns_.size(); ++i) {
      auto& c = conns_[i];
      auto& addr = addrs[i % addrs.size()];
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        die(fmt::format("cannot connect to target {} (port {}): {}", i % addrs.size(),
                        ntohs(addr.sin_port), std::strerror(errno)));
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      c.in.resize(1 << 18);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    }
    const int64_t t0 = t0_ = now_ns();
    const int64_t send_end = t0 + static_cast<int64_t>(o_.duration * 1e9);
    const bool open = o_.rate > 0;
    const double interval_ns = open ? 1e9 * o_.events_per_msg / o_.rate : 0;
    uint64_t scheduled = 0;  // open loop: messages whose intended time has been assigned
    int64_t drain_end = 0;
    std::vector<epoll_event> events(64);
    for (;;) {
      int64_t now = now_ns();
      bool sending = now < send_end && r_.events_sent < o_.max_events;
      if (sending && open) {
        // Every message due by now gets its intended time, whether or not it can go out yet.
        auto due = static_cast<uint64_t>((now - t0) / interval_ns) + 1;
        for (; scheduled < due && budget_left(scheduled); ++scheduled) {
          auto& c = conns_[scheduled % conns_.size()];
          c.backlog.push_back(t0 + static_cast<int64_t>(scheduled * interval_ns));
        }
      }
      for (auto& c : conns_)
        fill(c, sending, open, now);
      if (!sending) {
        if (drain_end == 0)
          drain_end = now + static_cast<int64_t>(o_.drain_timeout * 1e9);
        if (outstanding() == 0 || now >= drain_end)
          break;
      }
      int64_t wait_ns = 100'000'000;
      // While every connection's pipeline is full nothing could go out at the next send
      // time, so only an ack wakes the loop: waking for send times then only took CPU from
      // the server on the same cores (intended times come from the clock, so none is lost).
      if (sending && open && !pipelines_full())
        wait_ns = std::max<int64_t>(0, t0 + static_cast<int64_t>(scheduled * interval_ns) - now);
      else if (!sending)
        wait_ns = std::min<int64_t>(wait_ns, drain_end - now);
      timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000), wait_ns % 1'000'000'000};
      int n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
      if (n < 0 && errno != EINTR)
        die(std::string{"epoll: "} + std::strerror(errno));
      for (int i = 0; i < n; ++i) {
        auto& c = conns_[events[i].data.u64];
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
          on_readable(c);
        if (events[i].events & EPOLLOUT)
          flush(c);
      }
    }
    int64_t last = last_ack_ns_ ? last_ack_ns_ : now_ns();
    r_.elapsed_s = static_cast<double>(last - t0) / 1e9;
    for (auto& c : conns_) {
      r_.unanswered += c.inflight.size() + c.backlog.size();
      close(c.fd);
    }
    close(ep_);
    write_timeline();
    return std::move(r_);
  }

 private:
  // Why a percentile is what it is: per acked message, when it was due, how late the
  // generator got to it and its latency, so stalls can be lined up with a server trace.
  void write_timeline() const {
    if (o_.timeline.empty())
      return;
    std::ofstream f{o_.timeline};
    f << "due_ms generator_late_us latency_us\n";
    for (auto& t : timeline_)
      f << fmt::format("{:.3f} {:.1f} {:.1f}\n", t.due / 1e6, t.late / 1e3, t.latency / 1e3);
    if (!f)
      die("cannot write the timeline to " + o_.timeline);
  }

  bool budget_left(uint64_t msgs) const {
    return msgs * static_cast<uint64_t>(o_.events_per_msg) < o_.max_events;
  }

  bool pipelines_full() const {
    for (auto& c : conns_)
      if (!c.closed && c.inflight.size() < static_cast<size_t>(o_.pipeline))
        return false;
    return true;
  }

  size_t outstanding() const {
    size_t n = 0;
    for (auto& c : conns_)
      n += c.closed ? 0 : c.inflight.size() + c.backlog.size();
    return n;
  }

  // Queues as many frames as the pipeline allows and writes them in one call.
  void fill(tcp_conn& c, bool sending, bool open, int64_t now) {
    if (c.closed)
      return;
    bool added = false;
    while (c.inflight.size() < static_cast<size_t>(o_.pipeline)) {
      int64_t intended;
      if (open) {
        if (c.backlog.empty())
          break;
        intended = c.backlog.front();
        c.backlog.pop_front();
      } else {
        if (!sending || r_.events_sent >= o_.max_events)
          break;
        intended = now;
      }
      c.out.append(pool_[next_++ % pool_.size()]);
      c.inflight.push_back({intended, now});
      r_.events_sent += o_.events_per_msg;
      ++r_.msgs_sent;
      added = true;
    }
    if (added)
      flush(c);
  }

  void flush(tcp_conn& c) {
    while (c.out_pos < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_pos += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      fail(c, std::string{"send: "} + std::strerror(errno));
      return;
    }
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
    }
    bool want = c.out_pos < c.out.size();
    if (want != c.want_out) {
      c.want_out = want;
      epoll_event ev{};
      ev.events = want ? EPOLLIN | EPOLLOUT : EPOLLIN;
      ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  void on_readable(tcp_conn& c) {
    for (;;) {
      if (c.in_len == c.in.size())
        c.in.resize(c.in.size() * 2);
      ssize_t n = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
      if (n == 0) {
        fail(c, "server closed the connection");
        return;
      }
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          fail(c, std::string{"recv: "} + std::strerror(errno));
        break;
      }
      c.in_len += static_cast<size_t>(n);
      int64_t now = now_ns();
      size_t pos = 0;
      while (c.in_len - pos >= 4) {
        auto* p = reinterpret_cast<const unsigned char*>(c.in.data() + pos);
        size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
        if (c.in_len - pos - 4 < len)
          break;
        on_reply(c, std::string_view{c.in.data() + pos + 4, len}, now);
        pos += 4 + len;
      }
      std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
      c.in_len -= pos;
      if (static_cast<size_t>(n) < c.in.size() / 2)
        break;
    }
  }

  void on_reply(tcp_conn& c, std::string_view payload, int64_t now) {
    if (c.inflight.empty()) {
      fail(c, "a reply arrived for no request");
      return;
    }
    // The common ok reply is the two bytes of `ok: true`; anything else is decoded.
    bool ok = payload == std::string_view{"\x10\x01", 2};
    if (!ok) {
      auto rep = dmon::protobuf_codec::decode_reply(payload);
      ok = rep && rep->ok;
      if (!ok && r_.first_error.empty())
        r_.first_error = rep ? rep->error : rep.error().message;
    }
    if (!ok)
      ++r_.errors;
    auto& m = c.inflight.front();
    r_.latency.record(now - m.intended);
    if (!o_.timeline.empty())
      timeline_.push_back({m.intended - t0_, m.queued - m.intended, now - m.intended});
    c.inflight.pop_front();
    ++r_.msgs_acked;
    r_.events_acked += o_.events_per_msg;
    last_ack_ns_ = now;
  }

  void fail(tcp_conn& c, const std::string& why) {
    if (r_.first_error.empty())
      r_.first_error = why;
    ++r_.send_errors;
    r_.unanswered += c.inflight.size() + c.backlog.size();
    c.inflight.clear();
    c.backlog.clear();
    c.closed = true;
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
  }

  options o_;
  std::vector<std::string> pool_;
  std::vector<tcp_conn> conns_;
  int ep_ = -1;
  size_t next_ = 0;
  int64_t last_ack_ns_ = 0;
  int64_t t0_ = 0;
  struct timeline_entry {
    int64_t due;  // since the start
    int64_t late;
    int64_t latency;
  };
  std::vector<timeline_entry> timeline_;
  report r_;
};

// Datagrams go out in sendmmsg batches paced to the target rate; the server's own
// counters (collected by run.sh) say how many arrived.
report run_udp(const options& o, const std::vector<std::string>& pool) {
  report r;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto addr = target(o);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    die(std::string{"connect: "} + std::strerror(errno));
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  const int per_msg = o.proto == "json" ? 1 : o.events_per_msg;
  constexpr size_t batch = 64;
  std::vector<mmsghdr> hdrs(batch);
  std::vector<iovec> iovs(batch);
  const int64_t t0 = now_ns();
  const int64_t end = t0 + static_cast<int64_t>(o.duration * 1e9);
  const double interval_ns = o.rate > 0 ? 1e9 * per_msg / o.rate : 0;
  size_t next = 0;
  for (;;) {
    int64_t now = now_ns();
    if (now >= end || r.events_sent >= o.max_events)
      break;
    uint64_t due =
        interval_ns > 0 ? static_cast<uint64_t>((now - t0) / interval_ns) + 1 : r.msgs_sent + batch;
    if (due <= r.msgs_sent) {
      auto wake = t0 + static_cast<int64_t>(r.msgs_sent * interval_ns);
      timespec ts{static_cast<time_t>(wake / 1'000'000'000), wake % 1'000'000'000};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      continue;
    }
    uint64_t left_events = o.max_events - r.events_sent;
    size_t n = static_cast<size_t>(
        std::min<uint64_t>({due - r.msgs_sent, batch, (left_events + per_msg - 1) / per_msg}));
    for (size_t i = 0; i < n; ++i) {
      auto& item = pool[(next + i) % pool.size()];
      iovs[i] = {const_cast<char*>(item.data()), item.size()};
      hdrs[i] = {};
      hdrs[i].msg_hdr.msg_iov = &iovs[i];
      hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(fd, hdrs.data(), static_cast<unsigned>(n), 0);
    if (sent < 0) {
      // Counted as sent-but-lost so the pacing stays on schedule; the report shows them.
      if (r.first_error.empty())
        r.first_error = std::string{"sendmmsg: "} + std::strerror(errno);
      sent = 1;
      ++r.send_errors;
    } else {
      r.events_sent += static_cast<uint64_t>(sent) * per_msg;
    }
    r.msgs_sent += static_cast<uint64_t>(sent);
    next += static_cast<size_t>(sent);
  }
  r.elapsed_s = static_cast<double>(now_ns() - t0) / 1e9;
  close(fd);
  return r;
}

std::string json_line(const options& o, const report& r, uint64_t keys) {
  auto us = [&](double q) { return static_cast<double>(r.latency.quantile(q)) / 1e3; };
  double secs = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
  bool tcp = o.proto == "tcp";
  uint64_t events = tcp ? r.events_acked : r.events_sent;
  uint64_t msgs = tcp ? r.msgs_acked : r.msgs_sent;
  std::string err;
  for (char ch : r.first_error)
    err += ch == '"' || ch == '\\' ? std::string{'\\', ch} : std::string{ch};
  return fmt::format(
      "{{\"proto\":\"{}\",\"mode\":\"{}\",\"connections\":{},\"pipeline\":{},"
      "\"events_per_msg\":{},\"target_rate\":{},\"keys\":{},\"elapsed_s\":{:.3f},"
      "\"events_sent\":{},\"msgs_sent\":{},\"events_acked\":{},\"msgs_acked\":{},"
      "\"events_per_s\":{:.0f},\"msgs_per_s\":{:.0f},\"errors\":{},\"unanswered\":{},"
      "\"send_errors\":{},\"client_cpu_s\":{:.2f},\"latency_us\":{{\"count\":{},\"mean\":{:.1f},"
      "\"p50\":{:.1f},"
      "\"p90\":{:.1f},\"p99\":{:.1f},\"p999\":{:.1f},\"max\":{:.1f}}},\"first_error\":\"{}\"}}",
      o.proto, o.rate > 0 ? "open" : "closed", tcp ? o.connections : 0, tcp ? o.pipeline : 0,
      o.proto == "json" ? 1 : o.events_per_msg, o.rate, keys, r.elapsed_s, r.events_sent,
      r.msgs_sent, r.events_acked, r.msgs_acked, events / secs, msgs / secs, r.errors, r.unanswered,
      r.send_errors, r.cpu_s, r.latency.count(), r.latency.mean() / 1e3, us(0.5), us(0.9), us(0.99),
      us(0.999), static_cast<double>(r.latency.max()) / 1e3, err);
}

void human(const options& o, const report& r) {
  double secs = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
  bool tcp = o.proto == "tcp";
  uint64_t events = tcp ? r.events_acked : r.events_sent;
  auto to = o.targets.empty() ? fmt::format("{}:{}", o.host, o.port)
                              : fmt::format("{} targets", o.targets.size());
  std::cerr << fmt::format("dmon-load {} {} to {}: {} events in {:.2f} s = {:.0f} events/s",
                           o.proto, o.rate > 0 ? "open-loop" : "closed-loop", to, events,
                           r.elapsed_s, events / secs);
  if (tcp) {
    auto ms = [&](double q) { return static_cast<double>(r.latency.quantile(q)) / 1e6; };
    std::cerr << fmt::format(
        " ({:.0f} msgs/s)\n  ack latency ms: p50 {:.3f} p90 {:.3f} p99 {:.3f} p99.9 {:.3f} max "
        "{:.3f}\n  errors {} unanswered {}",
        r.msgs_acked / secs, ms(0.5), ms(0.9), ms(0.99), ms(0.999),
        static_cast<double>(r.latency.max()) / 1e6, r.errors, r.unanswered);
  } else {
    std::cerr << fmt::format(
        " sent ({} datagrams, {} send errors); compare with the server's "
        "count",
        r.msgs_sent, r.send_errors);
  }
  if (!r.first_error.empty())
    std::cerr << "\n  first error: " << r.first_error;
  std::cerr << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"dmon-load: drive a Riemann-protocol server and report events/s and ack latency",
               "dmon-load"};
  app.add_option("--proto", o.proto, "tcp (protobuf, acked), udp (protobuf) or json (datagrams)")
      ->check(CLI::IsMember({"tcp", "udp", "json"}))
      ->capture_default_str();
  app.add_option("--host", o.host, "server IPv4 address")->capture_default_str();
  auto* port = app.add_option("--port", o.port, "server port");
  app.add_option("--targets", o.targets,
                 "host:port,... (TCP): connection i goes to target i mod count, e.g. every "
                 "node of a cluster")
      ->delimiter(',')
      ->excludes(port);
  app.add_option("--keys-file", o.keys_file,
                 "file of 'host service' lines: the keys to send, instead of --hosts x "
                 "--services");
  app.add_option("--connections", o.connections, "TCP connections")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--pipeline", o.pipeline, "unacked messages per connection")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--events-per-msg", o.events_per_msg, "events per message/datagram")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--rate", o.rate,
                 "events/s: open loop with latency from each intended send time (0: closed "
                 "loop for TCP, unthrottled for UDP)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--events", o.max_events, "stop after this many events")->capture_default_str();
  app.add_option("--duration", o.duration, "stop after this many seconds")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout, "seconds to wait for the last acks")
      ->capture_default_str();
  app.add_option("--hosts", o.hosts, "distinct hosts")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--services", o.services, "distinct services per host")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--metric", o.metric, "metric distribution: const, uniform, normal or exp")
      ->check(CLI::IsMember({"const", "uniform", "normal", "exp"}))
      ->capture_default_str();
  app.add_option("--warning-fraction", o.warning_fraction, "share of events in state warning")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--pool-events", o.pool_events,
                 "distinct pre-encoded events cycled through (0: max(keys, 10000), cap 4M)")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_flag("--quiet", o.quiet, "print only the JSON line");
  app.add_option("--timeline", o.timeline,
                 "TCP: write one line per acked message to this file (when it was due, how "
                 "late the generator sent it, its latency)");
  CLI11_PARSE(app, argc, argv);
  if (o.targets.empty() && port->count() == 0)
    die("give --port (and --host) or --targets");
  if (!o.targets.empty() && o.proto != "tcp")
    die("--targets is for --proto tcp");
  if (!o.targets.empty() && o.connections % static_cast<int>(o.targets.size()) != 0)
    std::cerr << "dmon-load: warning: " << o.connections << " connections over " << o.targets.size()
              << " targets is uneven\n";

  // Open-loop pacing sleeps until each send time; the default 50 us timer slack would
  // show up as client-made latency.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  uint64_t keys = 0;
  auto pool = build_pool(o, keys);
  double cpu0 = cpu_seconds();
  report r = o.proto == "tcp" ? tcp_load{o, std::move(pool)}.run() : run_udp(o, pool);
  r.cpu_s = cpu_seconds() - cpu0;
  std::cout << json_line(o, r, keys) << std::endl;
  if (!o.quiet)
    human(o, r);
  return r.send_errors && o.proto == "tcp" ? 1 : 0;
}
