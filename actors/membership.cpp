// Membership bookkeeping: endpoint retries with backoff, live members by incarnation, gossip merge.
#include "membership.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace dmon {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

result<uint16_t> parse_port(std::string_view text, std::string_view entry) {
  uint32_t port = 0;
  bool ok = !text.empty() && text.size() <= 5;
  for (char c : text) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (!ok || port == 0 || port > 65535)
    return error{ec::bad_config, "peer '" + std::string{entry} + "' has port '" +
                                     std::string{text} +
                                     "'; write host:port with a port in 1..65535"};
  return static_cast<uint16_t>(port);
}

}  // namespace

std::string peer_endpoint::to_string() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

result<peer_endpoint> parse_endpoint(std::string_view text, uint16_t default_port) {
  auto entry = trim(text);
  auto bad = [&](const std::string& what) {
    return error{ec::bad_config, "peer '" + std::string{entry} + "' " + what +
                                     "; write host:port, host or [ipv6]:port"};
  };
  peer_endpoint ep;
  std::string_view port_text;
  bool has_port = false;
  if (!entry.empty() && entry.front() == '[') {
    auto close = entry.find(']');
    if (close == std::string_view::npos)
      return bad("has no closing ']'");
    ep.host = std::string{entry.substr(1, close - 1)};
    auto rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return bad("has text after ']' that is not ':port'");
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    auto colon = entry.rfind(':');
    if (colon != std::string_view::npos && entry.find(':') != colon)
      return bad("looks like an IPv6 address without brackets");
    ep.host = std::string{entry.substr(0, colon)};
    if (colon != std::string_view::npos) {
      port_text = entry.substr(colon + 1);
      has_port = true;
    }
  }
  if (ep.host.empty())
    return bad("has no host");
  if (has_port) {
    auto port = parse_port(port_text, entry);
    if (!port)
      return port.error();
    ep.port = *port;
  } else {
    if (default_port == 0)
      return bad("has no port");
    ep.port = default_port;
  }
  return ep;
}

result<std::vector<peer_endpoint>> parse_peers(std::string_view list, uint16_t default_port) {
  std::vector<peer_endpoint> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto entry = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (entry.empty())
      continue;
    auto ep = parse_endpoint(entry, default_port);
    if (!ep)
      return ep.error();
    if (std::find(out.begin(), out.end(), *ep) == out.end())
      out.push_back(std::move(*ep));
  }
  return out;
}

result<std::vector<peer_endpoint>> resolve_peers(const std::string& name, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res); rc != 0)
    return error{ec::unreachable, "cannot resolve peers DNS name '" + name +
                                      "': " + gai_strerror(rc) +
                                      "; check --peers-dns (a headless Service name) and DNS"};
  std::set<std::string> hosts;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* addr = nullptr;
    if (ai->ai_family == AF_INET)
      addr = &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr;
    else if (ai->ai_family == AF_INET6)
      addr = &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    if (addr && inet_ntop(ai->ai_family, addr, buf, sizeof(buf)))
      hosts.insert(buf);
  }
  freeaddrinfo(res);
  std::vector<peer_endpoint> out;
  for (auto& h : hosts)
    out.push_back({h, port});
  std::sort(out.begin(), out.end());
  return out;
}

const char* to_string(peer_state x) {
  switch (x) {
    case peer_state::waiting:
      return "waiting";
    case peer_state::connecting:
      return "connecting";
    case peer_state::up:
      return "up";
    case peer_state::down:
      return "down";
    case peer_state::self:
      return "self";
  }
  return "unknown";
}

membership::membership(member_info self, options opts)
    : self_(std::move(self)), opts_(opts), rng_(opts.seed ? opts.seed : std::random_device{}()) {}

void membership::seeds_pending(std::string why) {
  seeds_pending_ = std::move(why);
}

void membership::set_seeds(const std::vector<peer_endpoint>& seeds, time_point now) {
  seeds_pending_.reset();
  for (auto i = endpoints_.begin(); i != endpoints_.end();) {
    auto& p = i->second;
    bool listed = std::find(seeds.begin(), seeds.end(), i->first) != seeds.end();
    if (listed || !p.seed) {
      ++i;
    } else if (p.state == peer_state::up) {
      p.seed = false;
      ++i;
    } else {
      i = endpoints_.erase(i);
    }
  }
  for (auto& ep : seeds) {
    auto [i, added] = endpoints_.try_emplace(ep);
    i->second.seed = true;
    if (added) {
      i->second.endpoint = ep;
      i->second.next_attempt = now;
    }
  }
}

std::vector<peer_endpoint> membership::due(time_point now) {
  std::vector<peer_endpoint> out;
  for (auto& [ep, p] : endpoints_)
    if ((p.state == peer_state::waiting || p.state == peer_state::down) && p.next_attempt <= now) {
      p.state = peer_state::connecting;
      out.push_back(ep);
    }
  return out;
}

std::optional<membership::time_point> membership::next_attempt() const {
  std::optional<time_point> out;
  for (auto& [ep, p] : endpoints_)
    if (p.state == peer_state::waiting || p.state == peer_state::down)
      if (!out || p.next_attempt < *out)
        out = p.next_attempt;
  return out;
}

membership::duration membership::next_delay(int failures) {
  // Doubling from initial_backoff; the exponent is capped before it can overflow.
  auto base = std::chrono::duration<double>(opts_.initial_backoff) *
              std::pow(2.0, std::min(failures - 1, 30));
  base = std::min(base, std::chrono::duration<double>(opts_.max_backoff));
  std::uniform_real_distribution<double> factor{1.0 - opts_.jitter, 1.0 + opts_.jitter};
  auto delay = std::min(base * factor(rng_), std::chrono::duration<double>(opts_.max_backoff));
  return std::chrono::duration_cast<duration>(delay);
}

void membership::schedule_retry(peer_status& p, time_point now) {
  ++p.failures;
  p.state = peer_state::down;
  p.next_attempt = now + next_delay(p.failures);
}

void membership::connect_failed(const peer_endpoint& ep, const std::string& reason,
                                time_point now) {
  auto i = endpoints_.find(ep);
  if (i == endpoints_.end())
    return;
  if (!i->second.seed) {
    endpoints_.erase(i);
    return;
  }
  i->second.last_error = reason;
  i->second.node_id.clear();
  schedule_retry(i->second, now);
}

bool membership::connected(const peer_endpoint& ep, const member_info& remote, time_point now) {
  auto [i, added] = endpoints_.try_emplace(ep);
  auto& p = i->second;
  if (added)
    p.endpoint = ep;
  p.node_id = remote.node_id;
  p.failures = 0;
  p.last_error.clear();
  if (remote.node_id == self_.node_id) {
    p.state = peer_state::self;
    return false;
  }
  p.state = peer_state::up;
  return member_up(remote, now);
}

bool membership::member_up(const member_info& remote, time_point) {
  if (remote.node_id == self_.node_id)
    return false;
  auto i = members_.find(remote.node_id);
  if (i != members_.end() && i->second.incarnation > remote.incarnation)
    return false;
  down_.erase(remote.node_id);
  // Its advertised endpoint is now reachable through this connection; no need to dial it.
  if (auto ep = parse_endpoint(remote.endpoint, 0)) {
    auto j = endpoints_.find(*ep);
    if (j != endpoints_.end() &&
        (j->second.state == peer_state::waiting || j->second.state == peer_state::down)) {
      j->second.state = peer_state::up;
      j->second.node_id = remote.node_id;
      j->second.failures = 0;
      j->second.last_error.clear();
    }
  }
  if (i != members_.end() && i->second == remote)
    return false;
  members_[remote.node_id] = remote;
  return true;
}

bool membership::member_down(const std::string& node_id, uint64_t incarnation, time_point now) {
  auto i = members_.find(node_id);
  if (i == members_.end() || i->second.incarnation > incarnation)
    return false;
  members_.erase(i);
  down_[node_id] = incarnation;
  leaving_.erase(node_id);
  for (auto j = endpoints_.begin(); j != endpoints_.end();) {
    auto& p = j->second;
    if (p.node_id != node_id || p.state != peer_state::up) {
      ++j;
    } else if (!p.seed) {
      j = endpoints_.erase(j);
    } else {
      p.failures = 0;
      p.last_error = "connection lost";
      p.node_id.clear();
      schedule_retry(p, now);
      ++j;
    }
  }
  return true;
}

std::vector<peer_endpoint> membership::merge(const std::vector<member_info>& members,
                                             time_point now) {
  std::vector<peer_endpoint> out;
  for (auto& m : members) {
    if (m.node_id == self_.node_id)
      continue;
    if (auto d = down_.find(m.node_id); d != down_.end() && d->second >= m.incarnation)
      continue;
    if (auto l = members_.find(m.node_id);
        l != members_.end() && l->second.incarnation >= m.incarnation)
      continue;
    auto ep = parse_endpoint(m.endpoint, 0);
    if (!ep)
      continue;
    auto [i, added] = endpoints_.try_emplace(*ep);
    auto& p = i->second;
    if (added) {
      p.endpoint = *ep;
      p.next_attempt = now;
      out.push_back(*ep);
    } else if ((p.state == peer_state::waiting || p.state == peer_state::down) &&
               p.next_attempt > now) {
      // A newer incarnation is alive somewhere: no reason to sit out the backoff.
      p.next_attempt = now;
      out.push_back(*ep);
    }
  }
  return out;
}

std::vector<member_info> membership::live() const {
  std::vector<member_info> out;
  out.reserve(members_.size() + 1);
  bool self_added = false;
  for (auto& [id, m] : members_) {
    if (!self_added && self_.node_id < id) {
      out.push_back(self_);
      self_added = true;
    }
    out.push_back(m);
  }
  if (!self_added)
    out.push_back(self_);
  return out;
}

bool membership::mark_leaving(const std::string& node_id, uint64_t incarnation) {
  auto& held = leaving_[node_id];
  if (held >= incarnation)
    return false;
  held = incarnation;
  return leaving(node_id);
}

bool membership::leaving(std::string_view node_id) const {
  auto m = find(node_id);
  auto i = leaving_.find(node_id);
  // Only the incarnation that announced it: the same id restarted is a new member.
  return m && i != leaving_.end() && i->second == m->incarnation;
}

const member_info* membership::find(std::string_view node_id) const {
  if (node_id == self_.node_id)
    return &self_;
  auto i = members_.find(node_id);
  return i == members_.end() ? nullptr : &i->second;
}

std::vector<membership::peer_status> membership::peers() const {
  std::vector<peer_status> out;
  for (auto& [ep, p] : endpoints_)
    out.push_back(p);
  return out;
}

bool membership::ready() const {
  if (seeds_pending_)
    return false;
  return std::all_of(endpoints_.begin(), endpoints_.end(), [](auto& kv) {
    auto& p = kv.second;
    return !p.seed || p.state == peer_state::up || p.state == peer_state::self;
  });
}

std::string membership::readiness(time_point now) const {
  std::string ids;
  for (auto& m : live())
    ids += (ids.empty() ? "" : ", ") + m.node_id;
  auto count =
      std::to_string(members_.size() + 1) + (members_.empty() ? " member (" : " members (");
  if (ready())
    return "ready: " + count + ids + ")";
  std::string waiting;
  if (seeds_pending_)
    waiting = *seeds_pending_;
  for (auto& [ep, p] : endpoints_) {
    if (!p.seed || p.state == peer_state::up || p.state == peer_state::self)
      continue;
    std::string what;
    if (p.state == peer_state::connecting) {
      what = "connecting";
    } else {
      auto left = std::chrono::duration<double>(p.next_attempt - now).count();
      what = left <= 0 ? "retry now"
                       : "retry in " + std::to_string(static_cast<int64_t>(std::ceil(left))) + " s";
      if (!p.last_error.empty())
        what += ": " + p.last_error;
    }
    waiting += (waiting.empty() ? "" : ", ") + ep.to_string() + " (" + what + ")";
  }
  return "waiting for peers " + waiting + "; live: " + count + ids + ")";
}

}  // namespace dmon
