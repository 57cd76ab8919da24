// Tests of dmon::http_server on 127.0.0.1 with fake handlers, driven by a Boost.Beast client.
#include "http_server.hpp"

#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

using namespace dmon;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

namespace {

// Failure guard only: every wait ends as soon as its condition holds.
constexpr auto guard = 20s;

// Polls `cond` until it holds or the guard expires; returns whether it held.
template <class F>
bool eventually(F cond) {
  auto deadline = std::chrono::steady_clock::now() + guard;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

event make(std::string host, std::string service, double metric = 1) {
  event e;
  e.host = std::move(host);
  e.service = std::move(service);
  e.metric = metric;
  e.time_us = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
  return e;
}

// Runs client operations asynchronously on its own io_context so that a
// broken server fails the test after `guard` instead of hanging it.
class client {
 public:
  template <class Init>
  beast::error_code wait(Init init) {
    auto done = std::make_shared<std::optional<beast::error_code>>();
    init([done](beast::error_code ec, auto&&...) { *done = ec; });
    ioc_.restart();
    ioc_.run_for(guard);
    if (!*done) {
      ADD_FAILURE() << "client operation did not finish within the failure guard";
      return net::error::timed_out;
    }
    return **done;
  }

  net::io_context& ioc() { return ioc_; }

 private:
  net::io_context ioc_;
};

class http_server_test : public ::testing::Test {
 protected:
  void start(http_server::options opts = {}) {
    http_handlers h;
    h.ready = [this](http_handlers::ready_callback done) {
      if (!status_later_)
        return done({ready_.load(), "storage not open yet"});
      std::lock_guard guard{mtx_};
      held_ready_.push_back(std::move(done));
    };
    if (status_later_)
      h.cluster = [this](http_handlers::body_callback done) {
        std::lock_guard guard{mtx_};
        held_cluster_.push_back(std::move(done));
      };
    h.metrics = [] { return std::string{"dmon_test_total 7\n"}; };
    h.query = [this](const std::string& q) -> result<std::vector<event>> {
      {
        std::lock_guard guard{mtx_};
        queries_.push_back(q);
      }
      if (q == "bad")
        return error{ec::bad_query, "parse error at column 1: expected a query but found 'bad'"};
      return std::vector<event>{make("a", "cpu", 0.5), make("b", "cpu", 0.7)};
    };
    if (later_)
      h.local_query = h.query;
    if (later_)
      h.query_later = [this](const std::string& q, http_handlers::answer_callback done) {
        std::lock_guard guard{mtx_};
        queries_.push_back(q);
        held_.push_back(std::move(done));
      };
    h.ingest = [this](std::vector<event> es, std::function<void(std::vector<std::string>)> done) {
      std::vector<std::string> outcomes;
      for (auto& e : es) {
        outcomes.push_back(e.service == "fail" ? "overloaded: the stream queue is full" : "");
        std::lock_guard guard{mtx_};
        ingested_.push_back(e);
      }
      // Answer from another thread, as the node's actors do.
      std::thread{[done = std::move(done), outcomes = std::move(outcomes)] {
        done(outcomes);
      }}.detach();
    };
    server_.emplace("127.0.0.1", 0, opts, std::move(h), hub_);
    auto port = server_->listen();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }

  void TearDown() override {
    if (server_)
      server_->stop();
  }

  http::response<http::string_body> request(
      http::verb method, const std::string& target, std::string body = {},
      std::vector<std::pair<http::field, std::string>> headers = {}) {
    client c;
    beast::tcp_stream s{c.ioc()};
    EXPECT_FALSE(c.wait([&](auto h) { s.async_connect(endpoint(), h); }));
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers)
      req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    EXPECT_FALSE(c.wait([&](auto h) { http::async_write(s, req, h); }));
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    EXPECT_FALSE(c.wait([&](auto h) { http::async_read(s, buf, res, h); }));
    return res;
  }

  tcp::endpoint endpoint() const { return {net::ip::make_address("127.0.0.1"), port_}; }

  // An open WebSocket client connection.
  struct ws_client {
    client c;
    websocket::stream<beast::tcp_stream> ws{c.ioc()};
    beast::flat_buffer buf;

    std::string read() {
      buf.clear();
      auto ec = c.wait([&](auto h) { ws.async_read(buf, h); });
      EXPECT_FALSE(ec) << ec.message();
      return beast::buffers_to_string(buf.data());
    }

    beast::error_code read_error() {
      buf.clear();
      return c.wait([&](auto h) { ws.async_read(buf, h); });
    }

    void write(const std::string& text) {
      ws.text(true);
      EXPECT_FALSE(c.wait([&](auto h) { ws.async_write(net::buffer(text), h); }));
    }
  };

  // Connects and upgrades; returns the handshake error and fills `res`.
  beast::error_code open_ws(ws_client& w, const std::string& target,
                            websocket::response_type* res = nullptr) {
    if (auto ec =
            w.c.wait([&](auto h) { beast::get_lowest_layer(w.ws).async_connect(endpoint(), h); }))
      return ec;
    websocket::response_type ignored;
    return w.c.wait(
        [&](auto h) { w.ws.async_handshake(res ? *res : ignored, "127.0.0.1", target, h); });
  }

  // An SSE connection: request written, bytes read on demand.
  struct sse_client {
    client c;
    beast::tcp_stream s{c.ioc()};
    std::string received;

    // Reads until `received` holds `count` complete "data: ...\n\n" messages.
    std::vector<std::string> messages(size_t count) {
      for (;;) {
        std::vector<std::string> out;
        size_t pos = 0;
        while ((pos = received.find("data: ", pos)) != std::string::npos) {
          auto end = received.find("\n\n", pos);
          if (end == std::string::npos)
            break;
          out.push_back(received.substr(pos + 6, end - pos - 6));
          pos = end + 2;
        }
        if (out.size() >= count)
          return out;
        std::array<char, 4096> buf;
        size_t n = 0;
        auto ec = c.wait([&](auto h) {
          s.async_read_some(net::buffer(buf), [&n, h](beast::error_code ec, size_t got) mutable {
            n = got;
            h(ec);
          });
        });
        if (ec) {
          ADD_FAILURE() << "SSE read failed: " << ec.message() << " after: " << received;
          return out;
        }
        received.append(buf.data(), n);
      }
    }
  };

  void open_sse(sse_client& sc, const std::string& target, bool accept_header) {
    ASSERT_FALSE(sc.c.wait([&](auto h) { sc.s.async_connect(endpoint(), h); }));
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (accept_header)
      req += "Accept: text/event-stream\r\n";
    req += "\r\n";
    ASSERT_FALSE(sc.c.wait([&](auto h) { net::async_write(sc.s, net::buffer(req), h); }));
  }

  // Answers the test gives later, from its own thread, as the members' answers come.
  size_t held() {
    std::lock_guard guard{mtx_};
    return held_.size();
  }
  void answer(size_t i, result<std::vector<event>> found) {
    http_handlers::answer_callback done;
    {
      std::lock_guard guard{mtx_};
      done = std::move(held_.at(i));
    }
    done(std::move(found));
  }

  // Readiness and /cluster held the same way (the cluster actor's status, answered later).
  size_t held_status() {
    std::lock_guard guard{mtx_};
    return held_ready_.size() + held_cluster_.size();
  }
  template <class T>
  auto take(std::vector<T>& held) {
    std::lock_guard guard{mtx_};
    auto done = std::move(held.at(0));
    held.erase(held.begin());
    return done;
  }

  bool later_ = false;
  bool status_later_ = false;
  std::vector<http_handlers::answer_callback> held_;
  std::vector<http_handlers::ready_callback> held_ready_;
  std::vector<http_handlers::body_callback> held_cluster_;
  std::atomic<bool> ready_{true};
  std::mutex mtx_;
  std::vector<std::string> queries_;
  std::vector<event> ingested_;
  pubsub hub_;
  std::optional<http_server> server_;
  uint16_t port_ = 0;
};

}  // namespace

TEST_F(http_server_test, healthz_answers_ok) {
  start();
  auto res = request(http::verb::get, "/healthz");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "ok\n");
}

TEST_F(http_server_test, readyz_answers_503_with_the_reason_until_ready) {
  start();
  ready_ = false;
  auto res = request(http::verb::get, "/readyz");
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res.body(), "not ready: storage not open yet\n");
  ready_ = true;
  res = request(http::verb::get, "/readyz");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "ready\n");
}

TEST_F(http_server_test, metrics_serves_the_handlers_body_as_prometheus_text) {
  start();
  auto res = request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "dmon_test_total 7\n");
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(http_server_test, index_query_is_url_decoded_and_answers_a_json_array_with_iso_time) {
  start();
  auto res = request(http::verb::get, "/index?query=service%20%3D%20%22cpu%22+and+true");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto doc = json::parse(res.body());
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0]["host"], "a");
  EXPECT_EQ(doc[1]["metric"], 0.7);
  EXPECT_EQ(doc[0]["time"], "2026-01-01T00:00:00.000Z");
  std::lock_guard guard{mtx_};
  EXPECT_EQ(queries_.back(), "service = \"cpu\" and true");
}

TEST_F(http_server_test, a_bad_index_query_answers_400_with_the_parse_error) {
  start();
  auto res = request(http::verb::get, "/index?query=bad");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(res.body())["error"],
            "parse error at column 1: expected a query but found 'bad'");
}

TEST_F(http_server_test, unknown_paths_answer_404_and_wrong_methods_405) {
  start();
  auto res = request(http::verb::get, "/nope");
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_NE(res.body().find("no endpoint /nope"), std::string::npos) << res.body();
  res = request(http::verb::get, "/events");
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
  res = request(http::verb::post, "/healthz", "x");
  EXPECT_EQ(res.result(), http::status::method_not_allowed);
}

TEST_F(http_server_test, post_events_answers_one_line_per_event_in_order) {
  start();
  auto res = request(http::verb::post, "/events",
                     "{\"host\":\"a\",\"service\":\"ok\",\"time\":\"2026-01-01T00:00:00Z\"}\n"
                     "not json\n"
                     "\n"
                     "{\"host\":\"b\",\"service\":\"fail\"}\r\n"
                     "{\"host\":\"c\",\"service\":\"ok\",\"metric\":\"x\"}\n");
  ASSERT_EQ(res.result(), http::status::ok);
  std::vector<std::string> lines;
  std::istringstream in{res.body()};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u) << res.body();
  EXPECT_EQ(lines[0], "{}");
  EXPECT_TRUE(json::parse(lines[1]).contains("error")) << lines[1];
  EXPECT_EQ(json::parse(lines[2])["error"], "overloaded: the stream queue is full");
  EXPECT_NE(json::parse(lines[3])["error"].get<std::string>().find("metric"), std::string::npos);
  {
    std::lock_guard guard{mtx_};
    ASSERT_EQ(ingested_.size(), 2u);
    EXPECT_EQ(ingested_[0].time_us, 1'767'225'600'000'000);
    EXPECT_EQ(ingested_[1].host, "b");
  }
  auto& in_counters = server_->ingest_counters();
  EXPECT_EQ(in_counters.messages.load(), 4u);
  EXPECT_EQ(in_counters.messages_rejected.load(), 2u);
  EXPECT_EQ(in_counters.events_accepted.load(), 1u);
  EXPECT_EQ(in_counters.dropped_events.load(), 1u);
  EXPECT_EQ(in_counters.name.rfind("http 127.0.0.1:", 0), 0u);
}

TEST_F(http_server_test, a_body_over_the_limit_answers_413_naming_the_limit) {
  http_server::options opts;
  opts.max_body_bytes = 1024;
  start(opts);
  auto res = request(http::verb::post, "/events", std::string(4096, 'x'));
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_NE(res.body().find("max_body_bytes (1024 bytes)"), std::string::npos) << res.body();
  EXPECT_EQ(server_->ingest_counters().too_large.load(), 1u);
  std::lock_guard guard{mtx_};
  EXPECT_TRUE(ingested_.empty());
}

TEST_F(http_server_test, websocket_index_sends_the_snapshot_then_closes) {
  start();
  ws_client w;
  ASSERT_FALSE(open_ws(w, "/index?query=service%20%3D%20%22cpu%22"));
  EXPECT_EQ(json::parse(w.read())["host"], "a");
  EXPECT_EQ(json::parse(w.read())["host"], "b");
  EXPECT_EQ(w.read_error(), websocket::error::closed);
  EXPECT_TRUE(eventually([&] { return server_->stats().subscribers == 0; }));
}

TEST_F(http_server_test, websocket_index_subscription_sends_the_snapshot_then_live_matches) {
  start();
  ws_client w;
  ASSERT_FALSE(open_ws(w, "/index?query=service%20%3D%20%22cpu%22&subscribe=true"));
  EXPECT_EQ(json::parse(w.read())["host"], "a");
  EXPECT_EQ(json::parse(w.read())["host"], "b");
  EXPECT_EQ(hub_.subscribers("index"), 1u);
  hub_.publish("index", make("c", "memory"));
  hub_.publish("index", make("d", "cpu", 0.9));
  auto live = json::parse(w.read());
  EXPECT_EQ(live["host"], "d");
  EXPECT_EQ(live["metric"], 0.9);
  EXPECT_EQ(live["time"], "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(server_->stats().subscribers, 1u);
  // Closing the socket unsubscribes.
  EXPECT_FALSE(w.c.wait([&](auto h) { w.ws.async_close(websocket::close_code::normal, h); }));
  EXPECT_TRUE(eventually([&] { return hub_.subscribers() == 0; }));
  EXPECT_TRUE(eventually([&] { return server_->stats().subscribers == 0; }));
}

TEST_F(http_server_test, a_websocket_subscription_with_a_bad_query_is_refused_with_400) {
  start();
  ws_client w;
  websocket::response_type res;
  EXPECT_TRUE(open_ws(w, "/index?query=service%20%3D&subscribe=true", &res));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(hub_.subscribers(), 0u);
  EXPECT_EQ(server_->stats().subscribers, 0u);
}

TEST_F(http_server_test, websocket_pubsub_follows_a_topic_filtered_by_the_query) {
  start();
  ws_client w;
  ASSERT_FALSE(open_ws(w, "/pubsub/alerts?query=host%20%3D%20%22x%22"));
  EXPECT_EQ(hub_.subscribers("alerts"), 1u);
  hub_.publish("index", make("x", "cpu"));
  hub_.publish("alerts", make("y", "disk"));
  hub_.publish("alerts", make("x", "disk"));
  EXPECT_EQ(json::parse(w.read())["service"], "disk");
}

TEST_F(http_server_test, websocket_events_replies_to_each_frame) {
  start();
  ws_client w;
  ASSERT_FALSE(open_ws(w, "/events"));
  w.write("{\"host\":\"a\",\"service\":\"ok\"}");
  EXPECT_EQ(w.read(), "{}");
  w.write("{nope");
  EXPECT_TRUE(json::parse(w.read()).contains("error"));
  w.write("{\"host\":\"a\",\"service\":\"fail\"}");
  EXPECT_EQ(json::parse(w.read())["error"], "overloaded: the stream queue is full");
  EXPECT_EQ(server_->ingest_counters().events_accepted.load(), 1u);
  EXPECT_EQ(server_->ingest_counters().messages_rejected.load(), 1u);
}

TEST_F(http_server_test, sse_index_sends_the_snapshot_then_live_updates) {
  start();
  sse_client sc;
  open_sse(sc, "/index?query=service%20%3D%20%22cpu%22", true);
  auto first = sc.messages(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_NE(sc.received.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_EQ(json::parse(first[0])["host"], "a");
  ASSERT_TRUE(eventually([&] { return hub_.subscribers("index") == 1; }));
  hub_.publish("index", make("c", "cpu"));
  auto all = sc.messages(3);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(json::parse(all[2])["host"], "c");
}

TEST_F(http_server_test, sse_also_answers_on_sse_index_without_an_accept_header) {
  start();
  sse_client sc;
  open_sse(sc, "/sse/index?query=true", false);
  EXPECT_EQ(sc.messages(2).size(), 2u);
}

TEST_F(http_server_test, subscriptions_over_the_limit_are_refused_with_503_naming_it) {
  http_server::options opts;
  opts.max_subscribers = 2;
  start(opts);
  ws_client a, b, c;
  ASSERT_FALSE(open_ws(a, "/pubsub/t"));
  ASSERT_FALSE(open_ws(b, "/pubsub/t"));
  websocket::response_type res;
  EXPECT_TRUE(open_ws(c, "/pubsub/t", &res));
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_NE(res.body().find("max_subscribers (2)"), std::string::npos) << res.body();
  EXPECT_EQ(server_->stats().subscribers_refused, 1u);
  auto sse = request(http::verb::get, "/sse/index?query=true");
  EXPECT_EQ(sse.result(), http::status::service_unavailable);
  // A slot frees when a subscriber leaves.
  EXPECT_FALSE(a.c.wait([&](auto h) { a.ws.async_close(websocket::close_code::normal, h); }));
  ASSERT_TRUE(eventually([&] { return server_->stats().subscribers == 1; }));
  ws_client d;
  EXPECT_FALSE(open_ws(d, "/pubsub/t"));
}

TEST_F(http_server_test, a_subscriber_that_never_reads_is_dropped_without_blocking_publishers) {
  http_server::options opts;
  opts.subscriber_queue = 8;
  opts.threads = 2;
  start(opts);
  ws_client slow, healthy;
  ASSERT_FALSE(open_ws(slow, "/pubsub/flood"));
  ASSERT_FALSE(open_ws(healthy, "/pubsub/other"));
  auto big = make("h", "s");
  big.description = std::string(64 * 1024, 'x');
  // The slow client reads nothing, so its socket buffers fill and then its queue.
  // Every publish returns at once; the loop ends when the drop is counted.
  int published = 0;
  while (server_->stats().subscribers_dropped_slow == 0 && published < 100'000) {
    hub_.publish("flood", big);
    ++published;
  }
  EXPECT_TRUE(eventually([&] { return server_->stats().subscribers_dropped_slow == 1; }));
  EXPECT_TRUE(eventually([&] { return hub_.subscribers("flood") == 0; }));
  // Publishing to the dropped channel is now free, and others are unaffected.
  hub_.publish("flood", big);
  hub_.publish("other", make("z", "fine"));
  EXPECT_EQ(json::parse(healthy.read())["host"], "z");
  EXPECT_TRUE(eventually([&] { return server_->stats().subscribers == 1; }));
}

TEST_F(http_server_test, stop_closes_subscribers_and_unsubscribes_them) {
  start();
  ws_client w;
  ASSERT_FALSE(open_ws(w, "/pubsub/t"));
  sse_client sc;
  open_sse(sc, "/sse/index?query=true", false);
  EXPECT_EQ(sc.messages(2).size(), 2u);
  EXPECT_EQ(hub_.subscribers(), 2u);
  server_->stop();
  EXPECT_EQ(hub_.subscribers(), 0u);
  EXPECT_EQ(server_->stats().subscribers, 0u);
  EXPECT_TRUE(w.read_error());
  hub_.publish("t", make("a", "b"));
}

TEST_F(http_server_test, listen_reports_a_port_in_use) {
  start();
  pubsub other_hub;
  http_server other{"127.0.0.1", port_, {}, {}, other_hub};
  auto port = other.listen();
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("cannot listen for HTTP on 127.0.0.1:"), std::string::npos)
      << port.error().message;
}

TEST_F(http_server_test, a_query_answered_later_holds_up_neither_the_thread_nor_other_requests) {
  later_ = true;
  start();  // one I/O thread
  http::response<http::string_body> slow, refused;
  std::thread first{[&] { slow = request(http::verb::get, "/index?query=true"); }};
  ASSERT_TRUE(eventually([&] { return held() == 1; }));
  // The members have not answered the first query; the thread serves others meanwhile.
  EXPECT_EQ(request(http::verb::get, "/healthz").body(), "ok\n");
  EXPECT_EQ(request(http::verb::get, "/index?query=true&scope=local").result(), http::status::ok);
  std::thread second{[&] { refused = request(http::verb::get, "/index?query=true"); }};
  ASSERT_TRUE(eventually([&] { return held() == 2; }));
  answer(1, error{ec::unreachable, "cluster query incomplete: no answer from node-2"});
  second.join();
  EXPECT_EQ(refused.result(), http::status::service_unavailable);
  EXPECT_NE(refused.body().find("node-2"), std::string::npos);
  EXPECT_TRUE(slow.body().empty()) << "answered before the members did";
  answer(0, std::vector<event>{make("late", "cpu")});
  first.join();
  ASSERT_EQ(slow.result(), http::status::ok);
  EXPECT_EQ(json::parse(slow.body())[0]["host"], "late");
}

TEST_F(http_server_test, readiness_and_cluster_answered_later_hold_up_no_other_request) {
  status_later_ = true;
  start();  // one I/O thread
  http::response<http::string_body> readyz, cluster;
  std::thread ready_asker{[&] { readyz = request(http::verb::get, "/readyz"); }};
  ASSERT_TRUE(eventually([&] { return held_status() == 1; }));
  std::thread cluster_asker{[&] { cluster = request(http::verb::get, "/cluster"); }};
  ASSERT_TRUE(eventually([&] { return held_status() == 2; }));
  // The cluster actor has answered neither; the thread serves others meanwhile.
  EXPECT_EQ(request(http::verb::get, "/healthz").body(), "ok\n");
  EXPECT_EQ(request(http::verb::get, "/metrics").body(), "dmon_test_total 7\n");
  EXPECT_TRUE(readyz.body().empty() && cluster.body().empty()) << "answered before the status";
  take(held_cluster_)(R"({"node":"node-0"})");
  cluster_asker.join();
  EXPECT_EQ(cluster.result(), http::status::ok);
  EXPECT_EQ(json::parse(cluster.body())["node"], "node-0");
  EXPECT_TRUE(readyz.body().empty());
  take(held_ready_)({false, "cluster status did not answer in 2000 ms"});
  ready_asker.join();
  EXPECT_EQ(readyz.result(), http::status::service_unavailable);
  EXPECT_EQ(readyz.body(), "not ready: cluster status did not answer in 2000 ms\n");
}

TEST_F(http_server_test, a_subscription_answered_later_sends_the_snapshot_then_live_matches) {
  later_ = true;
  start();
  ws_client w;
  beast::error_code opened;
  std::thread asker{[&] { opened = open_ws(w, "/index?query=true&subscribe=true"); }};
  ASSERT_TRUE(eventually([&] { return held() == 1; }));
  EXPECT_EQ(request(http::verb::get, "/healthz").result(), http::status::ok);
  // Live already: an update published while the members answer comes after the snapshot.
  ASSERT_TRUE(eventually([&] { return hub_.subscribers("index") == 1; }));
  hub_.publish("index", make("live", "cpu"));
  answer(0, std::vector<event>{make("snap", "cpu")});
  asker.join();
  ASSERT_FALSE(opened) << opened.message();
  EXPECT_EQ(json::parse(w.read())["host"], "snap");
  EXPECT_EQ(json::parse(w.read())["host"], "live");
}
