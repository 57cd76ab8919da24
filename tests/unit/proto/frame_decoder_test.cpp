// frame_decoder: Riemann's 4-byte big-endian length framing over arbitrary read boundaries.
#include "frame_decoder.hpp"

#include <gtest/gtest.h>

using dmon::frame_decoder;

TEST(frame_decoder, yields_every_frame_of_one_read) {
  frame_decoder d{1024};
  std::string wire =
      frame_decoder::frame("one") + frame_decoder::frame("two") + frame_decoder::frame("three");
  std::vector<std::string> out;
  auto n = d.feed(wire, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(out, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(frame_decoder, reassembles_a_frame_split_byte_by_byte) {
  frame_decoder d{1024};
  std::string wire = frame_decoder::frame("hello world") + frame_decoder::frame("x");
  std::vector<std::string> out;
  for (char c : wire)
    ASSERT_TRUE(d.feed(std::string_view{&c, 1}, out));
  EXPECT_EQ(out, (std::vector<std::string>{"hello world", "x"}));
}

TEST(frame_decoder, splits_inside_the_header_and_the_payload) {
  frame_decoder d{1024};
  std::string wire = frame_decoder::frame("abcdef") + frame_decoder::frame("ghi");
  std::vector<std::string> out;
  ASSERT_TRUE(d.feed(wire.substr(0, 2), out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(d.feed(wire.substr(2, 6), out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.buffered(), 8u);
  ASSERT_TRUE(d.feed(wire.substr(8), out));
  EXPECT_EQ(out, (std::vector<std::string>{"abcdef", "ghi"}));
}

TEST(frame_decoder, zero_length_frame_is_an_empty_payload) {
  frame_decoder d{1024};
  std::vector<std::string> out;
  ASSERT_TRUE(d.feed(frame_decoder::frame(""), out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].empty());
}

TEST(frame_decoder, frame_over_the_limit_fails_and_names_the_limit) {
  frame_decoder d{16};
  std::vector<std::string> out;
  std::string wire = frame_decoder::frame("ok") + frame_decoder::frame(std::string(17, 'x'));
  auto n = d.feed(wire, out);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, dmon::ec::too_large);
  EXPECT_NE(n.error().message.find("max_frame_bytes (16 bytes)"), std::string::npos);
  EXPECT_EQ(out, std::vector<std::string>{"ok"});            // frames before the bad header survive
  EXPECT_FALSE(d.feed(frame_decoder::frame("later"), out));  // and the stream stays failed
}

TEST(frame_decoder, frame_exactly_at_the_limit_is_accepted) {
  frame_decoder d{16};
  std::vector<std::string> out;
  ASSERT_TRUE(d.feed(frame_decoder::frame(std::string(16, 'y')), out));
  EXPECT_EQ(out.size(), 1u);
}

TEST(frame_decoder, limit_is_reported_in_mebibytes) {
  frame_decoder d{64u << 20};
  std::vector<std::string> out;
  std::string header{"\x04\x60\x00\x00", 4};  // 70 MiB
  auto n = d.feed(header, out);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message.find("frame of 70 MiB exceeds max_frame_bytes (64 MiB)"),
            std::string::npos);
}

TEST(frame_decoder, many_small_reads_do_not_lose_frames) {
  frame_decoder d{1 << 20};
  std::string wire;
  for (int i = 0; i < 500; ++i)
    wire += frame_decoder::frame(std::to_string(i));
  std::vector<std::string> out;
  for (size_t off = 0; off < wire.size(); off += 7)
    ASSERT_TRUE(d.feed(wire.substr(off, 7), out));
  ASSERT_EQ(out.size(), 500u);
  for (int i = 0; i < 500; ++i)
    EXPECT_EQ(out[i], std::to_string(i));
}

TEST(frame_decoder, whole_frames_are_views_into_the_read) {
  frame_decoder d{1024};
  std::string wire =
      frame_decoder::frame("one") + frame_decoder::frame("two") + std::string{"\x00\x00", 2};
  std::vector<const char*> at;
  std::vector<std::string> got;
  auto n = d.feed(wire, [&](std::string_view p) {
    at.push_back(p.data());
    got.emplace_back(p);
  });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(at[0], wire.data() + 4);  // not copied
  EXPECT_EQ(at[1], wire.data() + 11);
  EXPECT_EQ(d.buffered(), 2u);  // the start of the next header is held
}

TEST(frame_decoder, a_held_frame_is_completed_before_the_frames_after_it) {
  frame_decoder d{1024};
  std::string first = frame_decoder::frame("held over two reads");
  std::string wire = first + frame_decoder::frame("next") + frame_decoder::frame("last");
  std::vector<std::string> got;
  auto collect = [&](std::string_view p) { got.emplace_back(p); };
  ASSERT_TRUE(d.feed(std::string_view{wire}.substr(0, 9), collect));
  EXPECT_TRUE(got.empty());
  auto n = d.feed(std::string_view{wire}.substr(9), collect);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(got, (std::vector<std::string>{"held over two reads", "next", "last"}));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(frame_decoder, an_oversized_held_header_fails_once_complete) {
  frame_decoder d{16};
  std::vector<std::string> out;
  std::string wire = frame_decoder::frame("ok") + std::string{"\x00\x00", 2};
  ASSERT_TRUE(d.feed(wire, out));
  auto n = d.feed(std::string{"\x01\x00", 2}, out);  // 256 bytes announced
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, dmon::ec::too_large);
  EXPECT_EQ(out, std::vector<std::string>{"ok"});
}
