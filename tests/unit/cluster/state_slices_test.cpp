// state_slices: stream-state slices hash like their key's events and cross nodes losslessly.
#include "state_slices.hpp"

#include <gtest/gtest.h>

#include "ownership.hpp"

namespace {

dmon::key_state slice(std::optional<std::string> host, std::optional<std::string> service,
                      std::string json) {
  return dmon::key_state{std::move(host), std::move(service), std::move(json)};
}

}  // namespace

TEST(state_slices, key_hash_is_the_events_key_hash) {
  dmon::event e;
  e.host = "web-1";
  e.service = "cpu";
  EXPECT_EQ(dmon::state_slices::key_hash(slice("web-1", "cpu", "{}")),
            dmon::ownership::key_hash(e));
  dmon::event absent;
  absent.host = "web-1";
  EXPECT_EQ(dmon::state_slices::key_hash(slice("web-1", std::nullopt, "{}")),
            dmon::ownership::key_hash(absent));
  EXPECT_NE(dmon::state_slices::key_hash(slice("web-1", "", "{}")),
            dmon::ownership::key_hash(absent))
      << "an absent service differs from an empty one";
}

TEST(state_slices, round_trip_keeps_absent_and_empty_apart) {
  std::vector<dmon::key_state> in{slice("a", "b", R"({"version":1})"), slice(std::nullopt, "", ""),
                                  slice("", std::nullopt, "x")};
  auto out = dmon::state_slices::decode(dmon::state_slices::encode(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, in);
  auto none = dmon::state_slices::decode(dmon::state_slices::encode({}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(state_slices, truncated_forged_and_trailing_bytes_are_refused) {
  auto bytes = dmon::state_slices::encode(std::vector{slice("a", "b", "{}")});
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = dmon::state_slices::decode(std::string_view{bytes}.substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes";
    EXPECT_EQ(r.error().code, dmon::ec::malformed_input);
  }
  EXPECT_FALSE(dmon::state_slices::decode(bytes + "z"));
  auto forged = bytes;
  forged[1] = '\xff';  // a count far beyond the bytes
  EXPECT_FALSE(dmon::state_slices::decode(forged));
  auto version = bytes;
  version[0] = 9;
  EXPECT_FALSE(dmon::state_slices::decode(version));
}
