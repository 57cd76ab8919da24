// event_convert: events become plain dicts with only present fields, and dicts come back exactly.
#include "event_convert.hpp"

#include <gtest/gtest.h>
#include <pybind11/embed.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace py::literals;

namespace {

py::scoped_interpreter* interpreter = nullptr;

dmon::event full_event() {
  dmon::event e;
  e.host = "web-1";
  e.service = "cpu";
  e.state = "ok";
  e.description = "fine";
  e.time_us = 1'700'000'000'250'000;
  e.ttl = 12.5;
  e.metric = int64_t{42};
  e.tags = {"a", "b"};
  e.attributes = {{"rack", "r1"}};
  return e;
}

}  // namespace

TEST(event_convert, dict_holds_every_present_field_with_python_types) {
  auto d = dmon::event_convert::to_dict(full_event());
  EXPECT_EQ(d["host"].cast<std::string>(), "web-1");
  EXPECT_DOUBLE_EQ(d["time"].cast<double>(), 1'700'000'000.25);
  EXPECT_TRUE(py::isinstance<py::int_>(d["metric"]));
  EXPECT_EQ(d["metric"].cast<int64_t>(), 42);
  EXPECT_EQ(d["tags"].cast<std::vector<std::string>>(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d["attributes"]["rack"].cast<std::string>(), "r1");
}

TEST(event_convert, absent_fields_are_absent_keys) {
  dmon::event e;
  e.host = "only";
  auto d = dmon::event_convert::to_dict(e);
  EXPECT_EQ(py::len(d), 1u);
  EXPECT_FALSE(d.contains("metric"));
  EXPECT_FALSE(d.contains("tags"));
}

TEST(event_convert, round_trips_exactly) {
  auto e = full_event();
  auto back = dmon::event_convert::from_dict(dmon::event_convert::to_dict(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
  e.metric = 0.125;
  back = dmon::event_convert::from_dict(dmon::event_convert::to_dict(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->metric, dmon::metric_value{0.125});
}

TEST(event_convert, custom_top_level_keys_become_string_attributes) {
  auto d = py::dict("host"_a = "h", "cores"_a = 8, "skip"_a = py::none());
  auto e = dmon::event_convert::from_dict(d);
  ASSERT_TRUE(e);
  ASSERT_NE(e->find_attribute("cores"), nullptr);
  EXPECT_EQ(*e->find_attribute("cores"), "8");
  EXPECT_EQ(e->find_attribute("skip"), nullptr);
}

TEST(event_convert, wrong_types_are_named) {
  auto bad_metric = dmon::event_convert::from_dict(py::dict("metric"_a = "high"));
  ASSERT_FALSE(bad_metric);
  EXPECT_EQ(bad_metric.error().code, dmon::ec::wrong_type);
  EXPECT_NE(bad_metric.error().message.find("'metric' must be an int or float, got str"),
            std::string::npos);
  EXPECT_FALSE(dmon::event_convert::from_dict(py::dict("host"_a = 5)));
  EXPECT_FALSE(dmon::event_convert::from_dict(py::dict("tags"_a = "a")));
  EXPECT_FALSE(dmon::event_convert::from_dict(py::dict("metric"_a = true)));
  EXPECT_FALSE(dmon::event_convert::from_dict(py::list()));
}

TEST(event_convert, huge_python_ints_become_doubles) {
  auto e = dmon::event_convert::from_dict(py::dict("metric"_a = py::int_(1) << py::int_(80)));
  ASSERT_TRUE(e);
  EXPECT_TRUE(std::holds_alternative<double>(e->metric));
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  py::scoped_interpreter guard{false};
  interpreter = &guard;
  return RUN_ALL_TESTS();
}
