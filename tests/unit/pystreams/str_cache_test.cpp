// str_cache: repeated values share one str, different values are never confused (even on
// colliding hashes), and whatever is not cached decodes exactly as PyUnicode_DecodeUTF8 does.
#include "str_cache.hpp"

#include <gtest/gtest.h>
#include <pybind11/embed.h>

#include <string>

#include "event_convert.hpp"

namespace py = pybind11;
using dmon::event_convert::str_cache;

namespace {

// Steals a new reference; fails the test on a null.
py::str take(PyObject* o) {
  EXPECT_NE(o, nullptr);
  return py::reinterpret_steal<py::str>(o);
}

std::string text(const py::str& s) {
  return s.cast<std::string>();
}

py::str decoded(std::string_view s) {
  return take(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

uint64_t same_hash(std::string_view) {
  return 7;
}

}  // namespace

TEST(str_cache, a_repeated_value_is_the_same_str) {
  str_cache cache{16};
  auto a = take(cache.get("web-1"));
  auto b = take(cache.get(std::string{"web-1"}));
  EXPECT_EQ(a.ptr(), b.ptr());
  EXPECT_EQ(text(a), "web-1");
}

TEST(str_cache, colliding_values_are_never_confused) {
  // One slot and one hash for everything: every lookup collides.
  str_cache cache{1, 64, same_hash};
  const char* values[] = {"a", "b", "ab", "ba", "", "a\0b", "web-1", "web-2", "web-1"};
  for (int round = 0; round < 3; ++round)
    for (const char* v : values) {
      std::string s{v};
      EXPECT_EQ(text(take(cache.get(s))), s);
    }
  // Same length, same hash, different bytes.
  EXPECT_EQ(text(take(cache.get("svc-1"))), "svc-1");
  EXPECT_EQ(text(take(cache.get("svc-2"))), "svc-2");
  EXPECT_EQ(text(take(cache.get("svc-1"))), "svc-1");
}

TEST(str_cache, nul_bytes_count_as_content) {
  str_cache cache{1};
  std::string with_nul{"a\0b", 3};
  auto a = take(cache.get(with_nul));
  EXPECT_EQ(PyUnicode_GET_LENGTH(a.ptr()), 3);
  EXPECT_EQ(text(a), with_nul);
  EXPECT_EQ(text(take(cache.get("a"))), "a");
  EXPECT_EQ(text(take(cache.get(with_nul))), with_nul);
}

TEST(str_cache, invalid_and_non_ascii_utf8_decode_as_before) {
  str_cache cache{4};
  for (std::string s : {std::string{"bad\xff\xfe"}, std::string{"caf\xc3\xa9"},
                        std::string{"\xe2\x82"}, std::string{"ok"}}) {
    for (int i = 0; i < 2; ++i) {
      auto got = take(cache.get(s));
      EXPECT_EQ(PyUnicode_Compare(got.ptr(), decoded(s).ptr()), 0) << s;
    }
  }
  // "bad\xff" is not cached as "bad": the replacement character keeps them apart.
  EXPECT_EQ(text(take(cache.get("bad"))), "bad");
}

TEST(str_cache, long_values_are_decoded_not_cached) {
  str_cache cache{16, 4};
  auto a = take(cache.get("longer"));
  auto b = take(cache.get("longer"));
  EXPECT_EQ(text(a), "longer");
  EXPECT_NE(a.ptr(), b.ptr());
}

TEST(str_cache, a_cached_str_outlives_its_eviction) {
  str_cache cache{1, 64, same_hash};
  auto a = take(cache.get("first"));
  take(cache.get("second"));  // evicts "first" from the only slot
  EXPECT_EQ(text(a), "first");
  EXPECT_GE(Py_REFCNT(a.ptr()), 1);
}

TEST(str_cache, dicts_share_repeated_values_and_keep_their_types) {
  dmon::event e;
  e.host = "web-1";
  e.service = "cpu";
  e.state = "ok";
  e.time_us = 1'700'000'000'250'000;
  e.ttl = 60;
  e.metric = 1.5;
  e.tags = {"x"};
  e.attributes = {{"rack", "r1"}};
  auto a = dmon::event_convert::to_dict(e);
  auto b = dmon::event_convert::to_dict(e);
  EXPECT_EQ(PyDict_GetItemString(a.ptr(), "host"), PyDict_GetItemString(b.ptr(), "host"));
  EXPECT_TRUE(PyUnicode_CheckExact(PyDict_GetItemString(a.ptr(), "service")));
  EXPECT_TRUE(PyFloat_CheckExact(PyDict_GetItemString(a.ptr(), "time")));
  EXPECT_TRUE(PyFloat_CheckExact(PyDict_GetItemString(a.ptr(), "ttl")));
  // Containers stay per-dict: mutating one event's tags or attributes leaves the other's alone.
  EXPECT_NE(PyDict_GetItemString(a.ptr(), "tags"), PyDict_GetItemString(b.ptr(), "tags"));
  EXPECT_NE(PyDict_GetItemString(a.ptr(), "attributes"),
            PyDict_GetItemString(b.ptr(), "attributes"));
  EXPECT_EQ(py::len(a), 8u);
  // A different time gets its own float.
  e.time_us = 1'700'000'001'000'000;
  auto c = dmon::event_convert::to_dict(e);
  EXPECT_DOUBLE_EQ(c["time"].cast<double>(), 1'700'000'001.0);
  EXPECT_DOUBLE_EQ(a["time"].cast<double>(), 1'700'000'000.25);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  py::scoped_interpreter guard{false};
  return RUN_ALL_TESTS();
}
