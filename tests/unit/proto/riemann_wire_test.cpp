// riemann_wire: the direct decoder gives exactly what libprotobuf's path gives, on random Msgs,
// merged Msgs, unknown fields and corrupted bytes (where it declines and libprotobuf decides).
#include "riemann_wire.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "protobuf_codec.hpp"
#include "riemann.pb.h"

namespace pc = dmon::protobuf_codec;
using dmon::event;

namespace {

constexpr int64_t now = 1'700'000'000'123'456;

std::string random_text(std::mt19937_64& rng) {
  static const std::vector<std::string> pool = {
      "",      "a",       "host-1", "svc-17", "ok",   "warning", "a longer string, over SSO",
      "host",  "service", "metric", "ttl",    "tags", "time",    std::string{"nul\0in", 6},
      "état ✓"};
  return pool[rng() % pool.size()];
}

void random_event(std::mt19937_64& rng, ::Event& e) {
  auto maybe = [&] { return rng() % 2 == 0; };
  if (maybe())
    e.set_host(random_text(rng));
  if (maybe())
    e.set_service(random_text(rng));
  if (maybe())
    e.set_state(random_text(rng));
  if (rng() % 4 == 0)
    e.set_description(random_text(rng));
  if (maybe())
    e.set_time(static_cast<int64_t>(rng() % 4'000'000'000) - 1'000'000'000);
  if (maybe())
    e.set_time_micros(static_cast<int64_t>(rng()));
  if (maybe())
    e.set_ttl(static_cast<float>(rng() % 1000) / 8);
  if (maybe())
    e.set_metric_sint64(static_cast<int64_t>(rng()));
  if (maybe())
    e.set_metric_d(static_cast<double>(rng() % 100000) / 7);
  if (maybe())
    e.set_metric_f(static_cast<float>(rng() % 1000) / 3);
  for (auto n = rng() % 4; n > 0; --n)
    e.add_tags(random_text(rng));
  for (auto n = rng() % 4; n > 0; --n) {
    auto* a = e.add_attributes();
    a->set_key(random_text(rng));
    if (maybe())
      a->set_value(random_text(rng));
  }
}

std::string random_msg(std::mt19937_64& rng) {
  ::Msg m;
  for (auto n = rng() % 5; n > 0; --n)
    random_event(rng, *m.add_events());
  if (rng() % 5 == 0)
    m.mutable_query()->set_string(random_text(rng));
  if (rng() % 8 == 0)
    m.set_ok(true);
  if (rng() % 10 == 0)
    m.set_error(random_text(rng));
  if (rng() % 15 == 0)
    m.add_states()->set_host("old");  // deprecated: the direct path declines
  return m.SerializePartialAsString();
}

bool same_bits(const std::optional<double>& a, const std::optional<double>& b) {
  if (a.has_value() != b.has_value())
    return false;
  return !a || std::memcmp(&*a, &*b, sizeof(double)) == 0;
}

// Equal, NaNs included (corrupted bytes make them), bit for bit.
void expect_same(const std::vector<event>& a, const std::vector<event>& b, const std::string& in) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = a[i], y = b[i];
    EXPECT_EQ(x.metric.index(), y.metric.index());
    EXPECT_TRUE(same_bits(x.metric_as_double(), y.metric_as_double()));
    EXPECT_TRUE(same_bits(x.ttl, y.ttl));
    x.metric = y.metric = {};
    x.ttl = y.ttl = {};
    EXPECT_EQ(x, y) << "event " << i << " of a " << in.size() << "-byte Msg";
  }
}

struct outcome {
  bool ok = false;
  std::vector<event> events;
  std::optional<std::string> query;
};

outcome decode(pc::request_decoder& d, const std::string& bytes) {
  outcome o;
  o.events.emplace_back();  // decoders append: what was there stays
  o.events[0].host = "before";
  auto q = d.decode(bytes, now, o.events);
  o.ok = bool(q);
  if (q)
    o.query = *q;
  return o;
}

}  // namespace

TEST(riemann_wire, decodes_what_libprotobuf_decodes_on_random_msgs) {
  std::mt19937_64 rng{20261129};
  pc::request_decoder direct{true}, reference{false};
  size_t taken_directly = 0, total = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string bytes = random_msg(rng);
    switch (rng() % 6) {
      case 0:  // two Msgs back to back: protobuf merges them (repeated fields append)
        bytes += random_msg(rng);
        break;
      case 1: {  // an unknown field
        ::Msg extra;
        extra.mutable_unknown_fields()->AddVarint(static_cast<int>(20 + rng() % 100), rng());
        bytes += extra.SerializePartialAsString();
        break;
      }
      case 2:  // cut short
        bytes.resize(rng() % (bytes.size() + 1));
        break;
      case 3:  // one byte changed
        if (!bytes.empty())
          bytes[rng() % bytes.size()] = static_cast<char>(rng());
        break;
      default:
        break;
    }
    ++total;
    std::vector<event> probe;
    std::optional<std::string> probe_query;
    if (dmon::riemann_wire::decode_request(bytes, now, probe, probe_query))
      ++taken_directly;
    auto a = decode(direct, bytes);
    auto b = decode(reference, bytes);
    ASSERT_EQ(a.ok, b.ok) << "Msg " << i;
    EXPECT_EQ(a.query, b.query) << "Msg " << i;
    expect_same(a.events, b.events, bytes);
  }
  // The comparison means something only if most Msgs took the direct path.
  EXPECT_GT(taken_directly, total / 2);
}

TEST(riemann_wire, declines_without_appending) {
  std::vector<event> events(2);
  std::optional<std::string> query = "kept";
  ::Msg m;
  m.add_events()->set_host("a");
  m.add_events()->add_attributes()->set_value("no key");
  EXPECT_FALSE(
      dmon::riemann_wire::decode_request(m.SerializePartialAsString(), now, events, query));
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(query, "kept");
}

TEST(riemann_wire, applies_the_codec_rules) {
  ::Msg m;
  auto* e = m.add_events();
  e->set_host("h");
  e->set_time(5);
  e->set_metric_d(2.5);
  e->set_metric_f(1.0f);
  e->add_attributes()->set_key("host");  // a core name: dropped
  auto* a = e->add_attributes();
  a->set_key("env");
  a->set_value("prod");
  m.add_events();  // no time: the server's
  std::vector<event> events;
  std::optional<std::string> query;
  ASSERT_TRUE(dmon::riemann_wire::decode_request(m.SerializeAsString(), now, events, query));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].host, "h");
  EXPECT_EQ(events[0].time_us, 5'000'000);
  EXPECT_EQ(events[0].metric_as_double(), 2.5);
  ASSERT_EQ(events[0].attributes.size(), 1u);
  EXPECT_EQ(events[0].attributes[0].key, "env");
  EXPECT_EQ(events[1].time_us, now);
  EXPECT_FALSE(events[1].host);
  EXPECT_FALSE(query);
}
