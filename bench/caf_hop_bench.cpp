// dmon-caf-hop: the CPU floor of one CAF middleman hop (a batch of encoded events from one
// process's actor to another's, answered by a small message), per batch and per event.
//
// Two processes on loopback, as two dmond nodes forward: process A (the sender) keeps K batches
// of B events in flight to an actor of process B (the receiver), which answers each with a
// (forward, id, events, error) message, the shape of dmon's forward and its answer. Each process
// may run in its own CPU-quota cgroup (as bench/scaling.sh runs nodes); the figures that matter
// are CPU per event and per batch (getrusage of both processes, every thread), which do not
// depend on the quota. The actor system is configured as dmond configures its own.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "event.hpp"
#include "event_batch_codec.hpp"

namespace {

// dmon's forward atom (actors/atoms.hpp), so the messages are the ones dmond sends.
using forward_atom = caf::atom_constant<caf::atom("forward")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

struct options {
  std::vector<size_t> batch_sizes{100, 300, 1000, 3000, 10000};
  std::vector<size_t> in_flight{1, 4};
  double seconds = 3;
  double warmup = 0.5;
  double cpu = 0;  // CPUs per process; 0: no quota
  size_t event_bytes = 150;
  bool encode = false;     // the sender encodes every batch from events (else copies the bytes)
  bool decode = false;     // the receiver decodes every batch into events (else reads the count)
  bool detached = false;   // the receiving actor has its own thread (dmond's keeper does)
  size_t max_threads = 0;  // CAF scheduler threads; 0: CAF's default (as dmond)
  int mm_workers = -1;     // BASP deserializing workers; -1: CAF's default (as dmond)
};

// CPU seconds and context switches of this process, all threads.
struct usage {
  uint64_t cpu_us = 0;
  uint64_t switches = 0;
};

usage self_usage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000 + static_cast<uint64_t>(t.tv_usec);
  };
  return {us(u.ru_utime) + us(u.ru_stime),
          static_cast<uint64_t>(u.ru_nvcsw) + static_cast<uint64_t>(u.ru_nivcsw)};
}

// --- events ------------------------------------------------------------------------------------

// `n` events with distinct keys. With `bytes` at most 48 they are dmon-load's (41-47 encoded
// bytes); above it, collectd-like events (longer names, tags, attributes) padded
// with a description to about `bytes` each.
std::vector<dmon::event> make_events(size_t n, size_t bytes) {
  std::vector<dmon::event> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    dmon::event e;
    e.state = "ok";
    e.time_us = 1'700'000'000'000'000 + static_cast<int64_t>(i);
    e.ttl = 60;
    e.metric = 0.5 + static_cast<double>(i);
    e.host = "host-" + std::to_string(i / 10);
    e.service = "svc-" + std::to_string(i % 10);
    // dmon-load's events take 41-47 bytes.
    if (bytes > 48) {
      e.host = fmt::format("web-{:04}.dc1.example.com", i / 10);
      e.service = fmt::format("cpu-{}/percent-user", i % 10);
      e.tags = {"collectd", "production"};
      e.attributes = {{"plugin", "cpu"}, {"type_instance", "user"}};
      auto rich = dmon::event_batch_codec::encode(std::span{&e, 1}).size() - 2;
      if (bytes > rich + 2)
        e.description = std::string(bytes - rich - 2, 'd');
    }
    out.push_back(std::move(e));
  }
  return out;
}

// The event count of an encoded batch (version byte, then a varint), without decoding it.
uint64_t batch_count(const std::string& bytes) {
  uint64_t n = 0;
  for (size_t i = 1, shift = 0; i < bytes.size() && shift < 64; ++i, shift += 7) {
    n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i]) & 0x7f) << shift;
    if (!(static_cast<uint8_t>(bytes[i]) & 0x80))
      break;
  }
  return n;
}

// CPU µs per event of encoding and decoding a batch of `n`, on this thread (the codec's share
// of a forward, which the hop figures exclude unless --encode/--decode).
std::pair<double, double> codec_cost(size_t n, size_t bytes) {
  auto events = make_events(n, bytes);
  auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
  };
  size_t rounds = std::max<size_t>(1, 2'000'000 / n);
  std::string out;
  auto t0 = cpu_now();
  for (size_t r = 0; r < rounds; ++r) {
    out.clear();
    dmon::event_batch_codec::encode_to(out, events);
  }
  auto t1 = cpu_now();
  size_t decoded = 0;
  for (size_t r = 0; r < rounds; ++r)
    decoded += dmon::event_batch_codec::decode(out)->size();
  auto t2 = cpu_now();
  auto total = static_cast<double>(rounds * n);
  if (decoded != rounds * n)
    std::fprintf(stderr, "dmon-caf-hop: codec check failed\n");
  return {(t1 - t0) / total, (t2 - t1) / total};
}

// --- the actor systems -------------------------------------------------------------------------

// As actors/node.cpp configures dmond's: the middleman, 1 s heartbeats, idle workers waiting on
// their condition variable at once.
void configure(caf::actor_system_config& cfg, const options& opt) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds{1}});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  if (opt.max_threads > 0)
    cfg.set("scheduler.max-threads", opt.max_threads);
  if (opt.mm_workers >= 0)
    cfg.set("middleman.workers", static_cast<size_t>(opt.mm_workers));
}

// The receiver: answers each batch to its sender as dmond's keeper answers a forward.
caf::behavior receiver(caf::event_based_actor* self, bool decode) {
  return {
      [=](forward_atom, const std::string& bytes, uint64_t id) {
        uint64_t n = 0;
        std::string error;
        if (decode) {
          auto events = dmon::event_batch_codec::decode(bytes);
          if (events)
            n = events->size();
          else
            error = events.error().message;
        } else {
          n = batch_count(bytes);
        }
        caf::anon_send(caf::actor_cast<caf::actor>(self->current_sender()), forward_atom::value, id,
                       n, std::move(error));
      },
      [](stats_atom) {
        auto u = self_usage();
        return std::make_tuple(u.cpu_us, u.switches);
      },
  };
}

int run_receiver(const options& opt, int port_fd, int control_fd) {
  caf::actor_system_config cfg;
  configure(cfg, opt);
  caf::actor_system sys{cfg};
  auto actor = opt.detached ? sys.spawn<caf::detached>(receiver, opt.decode)
                            : sys.spawn(receiver, opt.decode);
  auto port = sys.middleman().publish(actor, 0, "127.0.0.1", true);
  uint16_t p = port ? *port : 0;
  if (!port)
    std::fprintf(stderr, "dmon-caf-hop: receiver cannot publish: %s\n",
                 sys.render(port.error()).c_str());
  if (write(port_fd, &p, sizeof p) != sizeof p)
    return 1;
  close(port_fd);
  // Runs until the orchestrator closes the control pipe (the sender finished).
  char c;
  for (;;) {
    auto got = read(control_fd, &c, 1);
    if (got == 0 || (got < 0 && errno != EINTR))
      break;
  }
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  return port ? 0 : 1;
}

struct sender_state {
  caf::actor dest;
  std::vector<dmon::event> events;
  std::string bytes;
  size_t in_flight = 0;
  size_t open = 0;
  bool encode = false;
  bool stopping = false;
  uint64_t next_id = 0;
  std::shared_ptr<std::atomic<uint64_t>> answered;
  std::optional<caf::response_promise> drained;
};

// The sender: keeps `in_flight` batches open to `dest`, sending the next as one is answered (as
// dmond's router does with its forward_outbox).
caf::behavior sender(caf::stateful_actor<sender_state>* self, caf::actor dest,
                     std::vector<dmon::event> events, bool encode, size_t in_flight,
                     std::shared_ptr<std::atomic<uint64_t>> answered) {
  auto& st = self->state;
  st.dest = std::move(dest);
  st.bytes = dmon::event_batch_codec::encode(events);
  st.events = std::move(events);
  st.encode = encode;
  st.in_flight = in_flight;
  st.answered = std::move(answered);
  auto send_one = [self] {
    auto& st = self->state;
    std::string bytes;
    if (st.encode) {
      bytes.reserve(st.bytes.size());
      dmon::event_batch_codec::encode_to(bytes, st.events);
    } else {
      bytes = st.bytes;  // a fresh string per batch, as an encoding would be
    }
    ++st.open;
    self->send(st.dest, forward_atom::value, std::move(bytes), st.next_id++);
  };
  return {
      [=](start_atom) {
        while (self->state.open < self->state.in_flight)
          send_one();
      },
      [=](forward_atom, uint64_t, uint64_t n, const std::string& error) {
        auto& st = self->state;
        --st.open;
        if (!error.empty() || n != st.events.size())
          std::fprintf(stderr, "dmon-caf-hop: a batch came back with %llu events: %s\n",
                       static_cast<unsigned long long>(n), error.c_str());
        st.answered->fetch_add(1, std::memory_order_relaxed);
        if (!st.stopping)
          send_one();
        else if (st.open == 0 && st.drained)
          st.drained->deliver(true);
      },
      [=](stop_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.stopping = true;
        if (st.open == 0)
          return true;
        st.drained = self->make_response_promise();
        return caf::delegated<bool>{};
      },
  };
}

struct point {
  size_t batch = 0;
  size_t in_flight = 0;
  double seconds = 0;
  uint64_t batches = 0;
  usage sender, receiver;
};

int run_sender(const options& opt, uint16_t port) {
  caf::actor_system_config cfg;
  configure(cfg, opt);
  caf::actor_system sys{cfg};
  auto dest = sys.middleman().remote_actor("127.0.0.1", port);
  if (!dest) {
    std::fprintf(stderr, "dmon-caf-hop: cannot reach the receiver on port %u: %s\n", port,
                 sys.render(dest.error()).c_str());
    return 1;
  }
  caf::scoped_actor me{sys};
  auto remote_usage = [&] {
    usage u;
    me->request(*dest, std::chrono::seconds{30}, stats_atom::value)
        .receive(
            [&](uint64_t cpu, uint64_t sw) {
              u = {cpu, sw};
            },
            [&](caf::error& err) {
              std::fprintf(stderr, "dmon-caf-hop: receiver usage: %s\n", sys.render(err).c_str());
            });
    return u;
  };
  auto sample_bytes = dmon::event_batch_codec::encode(make_events(1000, opt.event_bytes)).size();
  std::printf(
      "dmon-caf-hop: %.1f encoded bytes/event, %s, %s, receiver %s%s, sender %s; %s per "
      "process; %.1f s per point after %.1f s warm-up; load average %s\n",
      static_cast<double>(sample_bytes) / 1000.0,
      opt.max_threads ? fmt::format("{} CAF threads", opt.max_threads).c_str()
                      : "CAF's default threads",
      opt.mm_workers >= 0 ? fmt::format("{} middleman workers", opt.mm_workers).c_str()
                          : "CAF's default middleman workers",
      opt.detached ? "detached" : "scheduled", opt.decode ? ", decoding" : "",
      opt.encode ? "encoding every batch" : "copying pre-encoded bytes",
      opt.cpu > 0 ? fmt::format("{} CPU quota", opt.cpu).c_str() : "no CPU quota", opt.seconds,
      opt.warmup,
      [] {
        std::ifstream in{"/proc/loadavg"};
        std::string a, b, c;
        in >> a >> b >> c;
        return a + " " + b + " " + c;
      }()
          .c_str());
  std::vector<point> points;
  for (auto k : opt.in_flight) {
    for (auto b : opt.batch_sizes) {
      auto answered = std::make_shared<std::atomic<uint64_t>>(0);
      auto s = sys.spawn(sender, *dest, make_events(b, opt.event_bytes), opt.encode, k, answered);
      caf::anon_send(s, start_atom::value);
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.warmup));
      point p;
      p.batch = b;
      p.in_flight = k;
      auto a0 = answered->load();
      auto l0 = self_usage();
      auto r0 = remote_usage();
      auto t0 = std::chrono::steady_clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
      auto a1 = answered->load();
      auto l1 = self_usage();
      auto r1 = remote_usage();
      auto t1 = std::chrono::steady_clock::now();
      p.seconds = std::chrono::duration<double>(t1 - t0).count();
      p.batches = a1 - a0;
      p.sender = {l1.cpu_us - l0.cpu_us, l1.switches - l0.switches};
      p.receiver = {r1.cpu_us - r0.cpu_us, r1.switches - r0.switches};
      me->request(s, std::chrono::seconds{60}, stop_atom::value)
          .receive([](bool) {},
                   [&](caf::error& err) {
                     std::fprintf(stderr, "dmon-caf-hop: stopping the sender: %s\n",
                                  sys.render(err).c_str());
                   });
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
      std::fprintf(stderr, "  B=%zu K=%zu: %llu batches\n", b, k,
                   static_cast<unsigned long long>(p.batches));
      points.push_back(p);
    }
  }
  std::printf(
      "\n| events/batch | in flight | batches/s | events/s | CPU µs/event (A+B) | "
      "CPU µs/batch (A+B) | of which sender | context switches/batch (A+B) | "
      "CPU used A, B (cores) |\n|---|---|---|---|---|---|---|---|---|\n");
  for (auto& p : points) {
    auto batches = static_cast<double>(std::max<uint64_t>(p.batches, 1));
    auto cpu = static_cast<double>(p.sender.cpu_us + p.receiver.cpu_us);
    std::printf("| %zu | %zu | %.0f | %.0f | %.3f | %.1f | %.0f %% | %.1f | %.2f, %.2f |\n",
                p.batch, p.in_flight, batches / p.seconds,
                batches * static_cast<double>(p.batch) / p.seconds,
                cpu / (batches * static_cast<double>(p.batch)), cpu / batches,
                100.0 * static_cast<double>(p.sender.cpu_us) / std::max(cpu, 1.0),
                static_cast<double>(p.sender.switches + p.receiver.switches) / batches,
                static_cast<double>(p.sender.cpu_us) / 1e6 / p.seconds,
                static_cast<double>(p.receiver.cpu_us) / 1e6 / p.seconds);
  }
  std::printf("\nCodec alone (one thread, not in the figures above%s), µs/event:",
              opt.encode || opt.decode ? " except where --encode/--decode put it there" : "");
  for (auto b : opt.batch_sizes) {
    auto [enc, dec] = codec_cost(b, opt.event_bytes);
    std::printf(" B=%zu encode %.3f decode %.3f;", b, enc, dec);
  }
  std::printf("\n");
  return 0;
}

// --- the orchestrator: cgroups, the two processes ------------------------------------------------

// One CPU-quota cgroup per process, as bench/scaling.sh makes them: cgroup v2 cpu.max where the
// cpu controller is available, else the v1 CFS quota.
class quota_groups {
 public:
  bool make(double cpu, const std::vector<std::string>& names) {
    constexpr long period = 100'000;
    auto quota = static_cast<long>(cpu * period);
    for (auto* d : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      std::ifstream ctl{std::string{d} + "/cgroup.controllers"};
      std::string words;
      std::getline(ctl, words);
      if ((" " + words + " ").find(" cpu ") != std::string::npos) {
        root_ = d;
        v2_ = true;
        write(root_ + "/cgroup.subtree_control", "+cpu");
        break;
      }
    }
    if (root_.empty())
      for (auto* d : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"})
        if (access((std::string{d} + "/cpu.cfs_quota_us").c_str(), F_OK) == 0) {
          root_ = d;
          break;
        }
    if (root_.empty()) {
      std::fprintf(stderr, "dmon-caf-hop: no cgroup cpu controller (v2 cpu.max or v1 CFS quota)\n");
      return false;
    }
    for (auto& n : names) {
      auto dir = fmt::format("{}/dmon-caf-hop-{}-{}", root_, getpid(), n);
      if (mkdir(dir.c_str(), 0755) != 0) {
        std::fprintf(stderr, "dmon-caf-hop: cannot create %s: %s (run as root, or without --cpu)\n",
                     dir.c_str(), std::strerror(errno));
        return false;
      }
      dirs_.push_back(dir);
      bool ok = v2_ ? write(dir + "/cpu.max", fmt::format("{} {}", quota, period))
                    : write(dir + "/cpu.cfs_period_us", std::to_string(period)) &&
                          write(dir + "/cpu.cfs_quota_us", std::to_string(quota));
      if (!ok)
        return false;
    }
    return true;
  }

  // Puts the calling process in group `i` (before it starts threads, so all of them are inside).
  bool join(size_t i) const {
    return i >= dirs_.size() || write(dirs_[i] + "/cgroup.procs", std::to_string(getpid()));
  }

  // The processes in them have exited.
  ~quota_groups() {
    for (auto& d : dirs_)
      if (rmdir(d.c_str()) != 0)
        std::fprintf(stderr, "dmon-caf-hop: could not remove %s: %s\n", d.c_str(),
                     std::strerror(errno));
  }

 private:
  static bool write(const std::string& path, const std::string& value) {
    std::ofstream out{path};
    out << value;
    out.flush();
    if (!out)
      std::fprintf(stderr, "dmon-caf-hop: cannot write '%s' to %s\n", value.c_str(), path.c_str());
    return static_cast<bool>(out);
  }

  std::string root_;
  bool v2_ = false;
  std::vector<std::string> dirs_;
};

volatile sig_atomic_t interrupted = 0;

void on_signal(int) {
  interrupted = 1;
}

// Runs `body` in a child process that dies with this one.
pid_t spawn_child(const std::function<int()>& body) {
  auto pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    auto rc = body();
    std::fflush(stdout);  // _exit skips stdio's flush
    _exit(rc);
  }
  return pid;
}

int wait_child(pid_t pid, pid_t other) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return 1;
    if (interrupted) {
      kill(pid, SIGKILL);
      if (other > 0)
        kill(other, SIGKILL);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::vector<size_t> parse_list(const std::string& s) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos < s.size()) {
    auto end = s.find(',', pos);
    if (end == std::string::npos)
      end = s.size();
    out.push_back(std::stoul(s.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  std::string sizes = "100,300,1000,3000,10000", flights = "1,4";
  CLI::App app{
      "dmon-caf-hop: the CPU floor of a CAF middleman hop between two processes "
      "(batches of encoded events, each answered by a small message)"};
  app.add_option("--batch-sizes", sizes, "events per batch, comma-separated")
      ->capture_default_str();
  app.add_option("--in-flight", flights, "batches kept in flight, comma-separated")
      ->capture_default_str();
  app.add_option("--seconds", opt.seconds, "measured seconds per point")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--warmup", opt.warmup, "seconds before each measurement")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  app.add_option("--cpu", opt.cpu, "CPU quota per process (cgroup, needs root); 0: none")
      ->check(CLI::Range(0.0, 64.0))
      ->capture_default_str();
  app.add_option("--event-bytes", opt.event_bytes,
                 "encoded bytes per event (46 or less: dmon-load's events)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_flag("--encode", opt.encode, "the sender encodes each batch from events");
  app.add_flag("--decode", opt.decode, "the receiver decodes each batch into events");
  app.add_flag("--detached", opt.detached, "the receiving actor runs on its own thread");
  app.add_option("--max-threads", opt.max_threads, "CAF scheduler threads (0: CAF's default)")
      ->capture_default_str();
  app.add_option("--mm-workers", opt.mm_workers,
                 "CAF middleman workers that deserialize received messages (0: the middleman's "
                 "own thread does; -1: CAF's default)")
      ->check(CLI::Range(-1, 64))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    opt.batch_sizes = parse_list(sizes);
    opt.in_flight = parse_list(flights);
  } catch (const std::exception&) {
    std::fprintf(stderr, "dmon-caf-hop: --batch-sizes and --in-flight take numbers like 100,300\n");
    return 2;
  }
  for (auto n : opt.batch_sizes)
    if (n == 0 || n > 1'000'000) {
      std::fprintf(stderr, "dmon-caf-hop: batch sizes must be 1 to 1,000,000 events\n");
      return 2;
    }
  for (auto k : opt.in_flight)
    if (k == 0 || k > 1024) {
      std::fprintf(stderr, "dmon-caf-hop: --in-flight values must be 1 to 1024\n");
      return 2;
    }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: waitpid returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  quota_groups groups;
  if (opt.cpu > 0 && !groups.make(opt.cpu, {"sender", "receiver"}))
    return 2;
  int port_pipe[2], control_pipe[2];
  if (pipe(port_pipe) != 0 || pipe(control_pipe) != 0)
    return 2;
  std::fflush(stdout);
  auto receiver_pid = spawn_child([&] {
    close(port_pipe[0]);
    close(control_pipe[1]);
    if (!groups.join(1))
      return 2;
    return run_receiver(opt, port_pipe[1], control_pipe[0]);
  });
  close(port_pipe[1]);
  close(control_pipe[0]);
  uint16_t port = 0;
  ssize_t got;
  while ((got = read(port_pipe[0], &port, sizeof port)) < 0 && errno == EINTR && !interrupted)
    ;
  close(port_pipe[0]);
  int rc = 1;
  if (got == sizeof port && port != 0 && !interrupted) {
    auto sender_pid = spawn_child([&] {
      close(control_pipe[1]);
      if (!groups.join(0))
        return 2;
      return run_sender(opt, port);
    });
    rc = wait_child(sender_pid, receiver_pid);
  }
  close(control_pipe[1]);  // the receiver's cue to stop
  // Its actor system's teardown has hung once (--mm-workers 0 --max-threads 2, after the sender
  // failed): the figures are the sender's, so it gets 5 s.
  pid_t ended = 0;
  for (int i = 0; i < 50 && (ended = waitpid(receiver_pid, nullptr, WNOHANG)) == 0; ++i)
    usleep(100'000);
  if (ended == 0) {
    std::fprintf(stderr, "dmon-caf-hop: the receiver did not stop within 5 s; killed\n");
    kill(receiver_pid, SIGKILL);
    waitpid(receiver_pid, nullptr, 0);
  }
  return rc;
}
