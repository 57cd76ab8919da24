// dmon-ackd: the decode-and-ack limit — frames decoded with libprotobuf and acked ok, nothing else.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "riemann.pb.h"

// Every figure dmond is compared against comes from here, so this server does what
// a good Riemann server cannot avoid (read many frames per syscall, parse every Msg
// fully, one ok reply per frame, all replies of a read in one write) and nothing it
// could avoid: no copies of payloads, no events built, no queues between threads.

namespace {

std::atomic<bool> stopping{false};

struct counters {
  std::atomic<uint64_t> tcp_msgs{0};
  std::atomic<uint64_t> tcp_events{0};
  std::atomic<uint64_t> udp_datagrams{0};
  std::atomic<uint64_t> udp_events{0};
  std::atomic<uint64_t> json_datagrams{0};
  std::atomic<uint64_t> bad{0};
};
counters stats;

[[noreturn]] void die(const std::string& what) {
  std::cerr << "dmon-ackd: " << what << "\n";
  std::exit(2);
}

int bound_socket(int type, const std::string& bind, uint16_t port, uint16_t& actual) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, bind.c_str(), &a.sin_addr) != 1)
    die("'" + bind + "' is not an IPv4 address");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    die(fmt::format("cannot bind {}:{}: {}", bind, port, std::strerror(errno)));
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  actual = ntohs(a.sin_port);
  return fd;
}

struct conn {
  int fd = -1;
  std::string in;
  size_t in_len = 0;
  std::string out;
  size_t out_pos = 0;
  bool blocked = false;  // replies could not all be written: stop reading (back-pressure)
};

// One epoll loop; owns the connections the acceptor hands it.
class worker {
 public:
  worker() : ep_(epoll_create1(EPOLL_CLOEXEC)) {}

  void adopt(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto* c = new conn{};
    c->fd = fd;
    c->in.resize(1 << 18);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void run() {
    std::vector<epoll_event> events(64);
    Msg msg;
    while (!stopping.load(std::memory_order_relaxed)) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<conn*>(events[i].data.ptr);
        bool alive = true;
        if (events[i].events & EPOLLOUT)
          alive = flush(*c);
        if (alive && !c->blocked && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
          alive = serve(*c, msg);
        if (!alive) {
          close(c->fd);
          delete c;
        }
      }
    }
  }

 private:
  // Reads what is there, answers every complete frame, writes the answers at once.
  bool serve(conn& c, Msg& msg) {
    if (c.in_len == c.in.size())
      c.in.resize(c.in.size() * 2);
    ssize_t n = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      return false;
    if (n < 0)
      return true;
    c.in_len += static_cast<size_t>(n);
    size_t pos = 0;
    uint64_t msgs = 0, evs = 0;
    while (c.in_len - pos >= 4) {
      auto* p = reinterpret_cast<const unsigned char*>(c.in.data() + pos);
      size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
      if (c.in_len - pos - 4 < len)
        break;
      if (msg.ParseFromArray(c.in.data() + pos + 4, static_cast<int>(len))) {
        evs += static_cast<uint64_t>(msg.events_size());
        c.out.append("\0\0\0\2\x10\x01", 6);
      } else {
        stats.bad.fetch_add(1, std::memory_order_relaxed);
        Msg reply;
        reply.set_ok(false);
        reply.set_error("malformed Msg");
        auto body = reply.SerializeAsString();
        uint32_t be = htonl(static_cast<uint32_t>(body.size()));
        c.out.append(reinterpret_cast<const char*>(&be), 4).append(body);
      }
      ++msgs;
      pos += 4 + len;
    }
    std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
    c.in_len -= pos;
    stats.tcp_msgs.fetch_add(msgs, std::memory_order_relaxed);
    stats.tcp_events.fetch_add(evs, std::memory_order_relaxed);
    return flush(c);
  }

  bool flush(conn& c) {
    while (c.out_pos < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n <= 0)
        return false;
      c.out_pos += static_cast<size_t>(n);
    }
    bool blocked = c.out_pos < c.out.size();
    if (!blocked) {
      c.out.clear();
      c.out_pos = 0;
    }
    if (blocked != c.blocked) {
      c.blocked = blocked;
      epoll_event ev{};
      ev.events = blocked ? EPOLLOUT : EPOLLIN;
      ev.data.ptr = &c;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
    return true;
  }

  int ep_;
};

// Reads exactly `n` bytes, blocking (the receive timeout only lets it see a stop); false on
// EOF, error or stop.
bool read_exactly(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t got = recv(fd, p, n, 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
        !stopping.load(std::memory_order_relaxed))
      continue;
    if (got <= 0)
      return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// The naive limit (--naive): one thread per connection, a read for each frame's length and
// one for its body, one write per ack. This is the server issue 10's "naive limit" means (how
// Riemann's own limit was measured for single-event frames); the batched loop above is what
// batching buys over it.
void naive_connection(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Msg msg;
  std::string body;
  char header[4];
  while (read_exactly(fd, header, 4)) {
    auto* p = reinterpret_cast<const unsigned char*>(header);
    size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    body.resize(len);
    if (!read_exactly(fd, body.data(), len))
      break;
    bool ok = msg.ParseFromArray(body.data(), static_cast<int>(len));
    if (ok) {
      stats.tcp_msgs.fetch_add(1, std::memory_order_relaxed);
      stats.tcp_events.fetch_add(static_cast<uint64_t>(msg.events_size()),
                                 std::memory_order_relaxed);
    } else {
      stats.bad.fetch_add(1, std::memory_order_relaxed);
    }
    static const char ack[6] = {0, 0, 0, 2, 0x10, 0x01};
    static const char nack[6] = {0, 0, 0, 2, 0x10, 0x00};
    if (send(fd, ok ? ack : nack, 6, MSG_NOSIGNAL) != 6)
      break;
  }
  close(fd);
}

// Receives datagrams in recvmmsg batches and decodes each; counts only.
void udp_loop(int fd, bool json) {
  constexpr size_t batch = 64;
  std::vector<std::string> bufs(batch, std::string(65536, '\0'));
  std::vector<iovec> iovs(batch);
  std::vector<mmsghdr> hdrs(batch);
  Msg msg;
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (!stopping.load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < batch; ++i) {
      iovs[i] = {bufs[i].data(), bufs[i].size()};
      hdrs[i] = {};
      hdrs[i].msg_hdr.msg_iov = &iovs[i];
      hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, hdrs.data(), batch, MSG_WAITFORONE, nullptr);
    for (int i = 0; i < n; ++i) {
      std::string_view d{bufs[i].data(), hdrs[i].msg_len};
      if (json) {
        auto j = nlohmann::json::parse(d, nullptr, false);
        if (j.is_object())
          stats.json_datagrams.fetch_add(1, std::memory_order_relaxed);
        else
          stats.bad.fetch_add(1, std::memory_order_relaxed);
      } else if (msg.ParseFromArray(d.data(), static_cast<int>(d.size()))) {
        stats.udp_datagrams.fetch_add(1, std::memory_order_relaxed);
        stats.udp_events.fetch_add(static_cast<uint64_t>(msg.events_size()),
                                   std::memory_order_relaxed);
      } else {
        stats.bad.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
}

void print_stats() {
  std::cout << fmt::format(
                   "ackd stats: tcp_msgs={} tcp_events={} udp_datagrams={} udp_events={} "
                   "json_datagrams={} bad={}",
                   stats.tcp_msgs.load(), stats.tcp_events.load(), stats.udp_datagrams.load(),
                   stats.udp_events.load(), stats.json_datagrams.load(), stats.bad.load())
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bind = "127.0.0.1";
  uint16_t tcp_port = 5555, udp_port = 5555, json_port = 7689;
  int threads = 1;
  bool naive = false;
  CLI::App app{"dmon-ackd: decode every Riemann frame and ack it, nothing else (the limit)",
               "dmon-ackd"};
  app.add_option("--bind", bind, "IPv4 address to listen on")->capture_default_str();
  app.add_option("--tcp-port", tcp_port, "Riemann protobuf over TCP (0: any free port)")
      ->capture_default_str();
  app.add_option("--udp-port", udp_port, "Riemann protobuf over UDP (0: any free port)")
      ->capture_default_str();
  app.add_option("--json-udp-port", json_port, "JSON datagrams (0: any free port)")
      ->capture_default_str();
  app.add_option("--threads", threads, "TCP worker threads (connections spread round-robin)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--naive", naive,
               "one thread per TCP connection, one read per frame part and one write per ack "
               "(the naive limit; --threads is ignored)");
  CLI11_PARSE(app, argc, argv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  uint16_t tcp_actual, udp_actual, json_actual;
  int lfd = bound_socket(SOCK_STREAM, bind, tcp_port, tcp_actual);
  if (listen(lfd, 128) != 0)
    die(std::string{"listen: "} + std::strerror(errno));
  int ufd = bound_socket(SOCK_DGRAM, bind, udp_port, udp_actual);
  int jfd = bound_socket(SOCK_DGRAM, bind, json_port, json_actual);
  // The same receive buffer dmond asks for, so UDP drops compare like for like.
  int rcvbuf = 8 << 20;
  setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  setsockopt(jfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::thread> running;
  for (int i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<worker>());
    running.emplace_back([w = workers.back().get()] { w->run(); });
  }
  running.emplace_back([ufd] { udp_loop(ufd, false); });
  running.emplace_back([jfd] { udp_loop(jfd, true); });
  running.emplace_back([&] {
    timeval tv{0, 100'000};
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t next = 0;
    std::vector<std::thread> naive_threads;
    while (!stopping.load()) {
      int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      if (naive)
        naive_threads.emplace_back(naive_connection, fd);
      else
        workers[next++ % workers.size()]->adopt(fd);
    }
    for (auto& t : naive_threads)
      t.join();
  });
  std::cout << fmt::format("dmon-ackd ready: tcp={}:{} udp={}:{} json-udp={}:{} threads={}{}", bind,
                           tcp_actual, bind, udp_actual, bind, json_actual, threads,
                           naive ? " naive" : "")
            << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  stopping = true;
  for (auto& t : running)
    t.join();
  print_stats();
  return 0;
}
