// Tests of GET /index streamed from a page source: chunked JSON, keep-alive, fallbacks.
#include "http_server.hpp"

#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <optional>

using namespace dmon;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

namespace {

// Failure guard only: a broken server fails the test after this instead of hanging it.
constexpr auto guard = 20s;

event make(int i) {
  event e;
  e.host = "h" + std::to_string(i);
  e.service = "cpu";
  e.metric = int64_t{i};
  e.time_us = 1'767'225'600'000'000;
  return e;
}

class http_index_stream_test : public ::testing::Test {
 protected:
  // A page source of `total` events in pages of `page`, with an empty page after every full one
  // (as a sparse scan gives); `pages_read` counts the calls.
  void start(int total, int page) {
    http_handlers h;
    h.query = [this](const std::string& q) -> result<std::vector<event>> {
      ++whole_answers_;
      if (q == "bad")
        return error{ec::bad_query, "parse error at column 1: expected a query"};
      return std::vector<event>{make(0)};
    };
    h.query_pages = [this, total,
                     page](const std::string& q) -> result<http_handlers::page_source> {
      if (q == "bad")
        return error{ec::bad_query, "parse error at column 1: expected a query"};
      auto next = std::make_shared<int>(0);
      auto empty_turn = std::make_shared<bool>(false);
      return http_handlers::page_source{[=, this](std::vector<event>& out) {
        ++pages_read_;
        if (*empty_turn) {
          *empty_turn = false;
          return *next < total;
        }
        for (int i = 0; i < page && *next < total; ++i)
          out.push_back(make((*next)++));
        *empty_turn = true;
        return *next < total;
      }};
    };
    server_.emplace("127.0.0.1", 0, http_server::options{}, std::move(h), hub_);
    auto port = server_->listen();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }

  void TearDown() override {
    if (server_)
      server_->stop();
  }

  // Sends GET (or `verb`) `target` with `version` on `s` and reads the answer.
  http::response<http::string_body> get(beast::tcp_stream& s, net::io_context& ioc,
                                        const std::string& target, unsigned version = 11,
                                        http::verb verb = http::verb::get) {
    http::request<http::empty_body> req{verb, target, version};
    req.set(http::field::host, "127.0.0.1");
    std::optional<beast::error_code> wrote, read;
    http::async_write(s, req, [&](beast::error_code ec, size_t) { wrote = ec; });
    http::response<http::string_body> res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::async_read(s, buf_, parser, [&](beast::error_code ec, size_t) { read = ec; });
    ioc.restart();
    ioc.run_for(guard);
    EXPECT_TRUE(wrote && !*wrote);
    EXPECT_TRUE(read && !*read) << (read ? read->message() : "no answer within the guard");
    return parser.release();
  }

  pubsub hub_;
  std::optional<http_server> server_;
  uint16_t port_ = 0;
  beast::flat_buffer buf_;
  std::atomic<int> pages_read_{0};
  std::atomic<int> whole_answers_{0};
};

TEST_F(http_index_stream_test, a_large_answer_is_one_chunked_json_array_read_page_by_page) {
  start(5000, 300);
  net::io_context ioc;
  beast::tcp_stream s{ioc};
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  auto res = get(s, ioc, "/index?query=true");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(res.chunked());
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto body = json::parse(res.body());
  ASSERT_TRUE(body.is_array());
  ASSERT_EQ(body.size(), 5000u);
  for (int i = 0; i < 5000; ++i)
    ASSERT_EQ(body[i]["host"], "h" + std::to_string(i));
  // 17 pages of events with an empty page between each two: read page by page, to the end.
  EXPECT_EQ(pages_read_, 33);
  EXPECT_EQ(whole_answers_, 0);

  // Keep-alive: the same connection serves the next request.
  pages_read_ = 0;
  auto again = get(s, ioc, "/index?query=true");
  EXPECT_EQ(json::parse(again.body()).size(), 5000u);
}

TEST_F(http_index_stream_test, an_empty_answer_is_an_empty_array) {
  start(0, 10);
  net::io_context ioc;
  beast::tcp_stream s{ioc};
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  auto res = get(s, ioc, "/index?query=false");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(json::parse(res.body()), json::array());
}

TEST_F(http_index_stream_test, a_bad_query_is_a_400_with_the_parse_error_before_any_chunk) {
  start(10, 10);
  net::io_context ioc;
  beast::tcp_stream s{ioc};
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  auto res = get(s, ioc, "/index?query=bad");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_FALSE(res.chunked());
  EXPECT_NE(res.body().find("parse error at column 1"), std::string::npos) << res.body();
}

TEST_F(http_index_stream_test, http_1_0_and_head_get_the_whole_answer_without_chunking) {
  start(10, 3);
  net::io_context ioc;
  beast::tcp_stream s{ioc};
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  auto old = get(s, ioc, "/index?query=true", 10);
  EXPECT_EQ(old.result(), http::status::ok);
  EXPECT_FALSE(old.chunked());
  EXPECT_EQ(json::parse(old.body()).size(), 1u);
  EXPECT_EQ(whole_answers_, 1);
  EXPECT_EQ(pages_read_, 0);

  beast::tcp_stream s2{ioc};
  s2.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  http::request<http::empty_body> req{http::verb::head, "/index?query=true", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(s2, req);
  http::response_parser<http::empty_body> head;
  head.skip(true);  // a HEAD answer has headers only
  beast::flat_buffer b;
  http::read_header(s2, b, head);
  EXPECT_EQ(head.get().result(), http::status::ok);
  EXPECT_FALSE(head.get().chunked());
  EXPECT_EQ(whole_answers_, 2);
}

TEST_F(http_index_stream_test, a_websocket_snapshot_is_read_from_the_pages_as_the_client_takes_it) {
  start(5000, 300);
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::get_lowest_layer(ws).connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  ws.handshake("127.0.0.1", "/index?query=true");
  std::vector<std::string> hosts;
  beast::flat_buffer b;
  beast::error_code ec;
  // Bounded: one frame per event, then the server closes (no subscribe=true).
  for (int i = 0; i < 6000; ++i) {
    b.clear();
    ws.read(b, ec);
    if (ec)
      break;
    hosts.push_back(json::parse(beast::buffers_to_string(b.data()))["host"]);
  }
  EXPECT_EQ(ec, websocket::error::closed) << ec.message();
  ASSERT_EQ(hosts.size(), 5000u);
  for (int i = 0; i < 5000; ++i)
    ASSERT_EQ(hosts[i], "h" + std::to_string(i));
  EXPECT_EQ(pages_read_, 33);
  EXPECT_EQ(whole_answers_, 0);
}

TEST_F(http_index_stream_test,
       a_websocket_subscription_with_a_bad_query_is_refused_with_the_error) {
  start(10, 10);
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::get_lowest_layer(ws).connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port_});
  beast::error_code ec;
  ws.handshake("127.0.0.1", "/index?query=bad", ec);
  // The parse error comes as a 400 instead of the upgrade (http_server_test reads its body).
  EXPECT_EQ(ec, websocket::error::upgrade_declined) << ec.message();
  EXPECT_EQ(pages_read_, 0);
}

}  // namespace
