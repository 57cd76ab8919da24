// state_slices: stream-state slices hash like their key's events and cross nodes losslessly.
#include "state_slices.hpp"

#include <gtest/gtest.h>

#include "ownership.hpp"
#include "regroup.hpp"

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

namespace {

dmon::key_state regroup_slice(std::vector<std::optional<std::string>> values, std::string json) {
  dmon::key_state s;
  s.json = std::move(json);
  s.values = std::move(values);
  return s;
}

}  // namespace

TEST(state_slices, a_regroup_keys_slice_hashes_like_its_regrouped_events) {
  dmon::event e;
  e.host = "web-1";
  e.service = "cpu";
  e.state = "ok";
  EXPECT_EQ(dmon::state_slices::key_hash(regroup_slice({"cpu"}, "{}")),
            dmon::regroup::key_hash({"service"}, e));
  EXPECT_EQ(dmon::state_slices::key_hash(regroup_slice({"cpu", "ok", std::nullopt}, "{}")),
            dmon::regroup::key_hash({"service", "state", "description"}, e));
  // Two fields are held as host and service and hash as the regroup key of those values.
  EXPECT_EQ(dmon::state_slices::key_hash(slice("cpu", "web-1", "{}")),
            dmon::regroup::key_hash({"service", "host"}, e));
  EXPECT_NE(dmon::state_slices::key_hash(regroup_slice({"cpu"}, "{}")),
            dmon::state_slices::key_hash(slice("cpu", std::nullopt, "{}")));
}

TEST(state_slices, regroup_slices_round_trip_in_version_2_and_plain_ones_stay_version_1) {
  std::vector<dmon::key_state> in{slice("a", "b", "{}"), regroup_slice({"cpu"}, R"({"v":1})"),
                                  regroup_slice({std::nullopt, "", "x"}, "")};
  auto bytes = dmon::state_slices::encode(in);
  EXPECT_EQ(bytes[0], 2);
  auto out = dmon::state_slices::decode(bytes);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, in);
  EXPECT_EQ(dmon::state_slices::encode(std::vector{slice("a", "b", "{}")})[0], 1)
      << "nodes of the previous version read slices without regroup keys";
  for (size_t n = 0; n < bytes.size(); ++n)
    ASSERT_FALSE(dmon::state_slices::decode(std::string_view{bytes}.substr(0, n))) << n;
  auto v1 = bytes;
  v1[0] = 1;  // values are not allowed in version 1
  EXPECT_FALSE(dmon::state_slices::decode(v1));
}
