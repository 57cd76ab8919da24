// Events cross into Python as plain dicts built with the C API: interned keys, present fields only.
#include "event_convert.hpp"

#include <Python.h>
#include <pybind11/pybind11.h>

#include <cmath>

#include "str_cache.hpp"

namespace py = pybind11;

namespace dmon::event_convert {

namespace {

// Interned once, on first use with the GIL held; never freed (they live as long as the process).
struct keys {
  PyObject* host = PyUnicode_InternFromString("host");
  PyObject* service = PyUnicode_InternFromString("service");
  PyObject* state = PyUnicode_InternFromString("state");
  PyObject* description = PyUnicode_InternFromString("description");
  PyObject* time = PyUnicode_InternFromString("time");
  PyObject* ttl = PyUnicode_InternFromString("ttl");
  PyObject* metric = PyUnicode_InternFromString("metric");
  PyObject* tags = PyUnicode_InternFromString("tags");
  PyObject* attributes = PyUnicode_InternFromString("attributes");
};

const keys& k() {
  static const keys instance;
  return instance;
}

void set_steal(PyObject* dict, PyObject* key, PyObject* value) {
  if (!value)
    throw py::error_already_set();
  PyDict_SetItem(dict, key, value);
  Py_DECREF(value);
}

// Values of a few thousand keys' hosts, services, states, tags and attributes repeat from
// event to event: decoding each once and sharing the str saves an allocation and a decode per
// field (16384 slots, at most a few hundred KB of strings). The GIL guards it; like the keys
// above it is never destroyed (one interpreter per process, and a destructor at exit would
// run after Py_Finalize).
str_cache& values() {
  static str_cache* cache = new str_cache(16384, 64);
  return *cache;
}

PyObject* cached_str(const std::string& s) {
  return values().get(s);
}

// The last float built for a field: event times within a batch and ttls repeat, and floats
// are immutable, so handing out the same object is unobservable except through `is`. Holds
// one strong reference, never released (as above).
struct last_float {
  double value = 0;
  PyObject* obj = nullptr;

  PyObject* get(double v) {
    if (!obj || value != v || std::signbit(value) != std::signbit(v)) {
      PyObject* fresh = PyFloat_FromDouble(v);
      if (!fresh)
        return nullptr;
      Py_XDECREF(obj);
      obj = fresh;
      value = v;
    }
    Py_INCREF(obj);
    return obj;
  }
};

error wrong_type(const char* field, const char* expected, PyObject* value) {
  std::string got = Py_TYPE(value)->tp_name;
  return error{ec::wrong_type,
               std::string{"event field '"} + field + "' must be " + expected + ", got " + got};
}

std::optional<error> read_str(PyObject* dict, PyObject* key, const char* name,
                              std::optional<std::string>& out) {
  PyObject* v = PyDict_GetItemWithError(dict, key);
  if (!v || v == Py_None)
    return std::nullopt;
  if (!PyUnicode_Check(v))
    return wrong_type(name, "a str", v);
  Py_ssize_t n;
  const char* s = PyUnicode_AsUTF8AndSize(v, &n);
  if (!s) {
    PyErr_Clear();
    return error{ec::wrong_type, std::string{"event field '"} + name + "' is not valid UTF-8"};
  }
  out.emplace(s, static_cast<size_t>(n));
  return std::nullopt;
}

std::optional<std::string> to_str(PyObject* v) {
  if (PyUnicode_Check(v)) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(v, &n);
    if (s)
      return std::string{s, static_cast<size_t>(n)};
    PyErr_Clear();
    return std::nullopt;
  }
  PyObject* s = PyObject_Str(v);
  if (!s) {
    PyErr_Clear();
    return std::nullopt;
  }
  auto out = to_str(s);
  Py_DECREF(s);
  return out;
}

bool is_number(PyObject* v) {
  return !PyBool_Check(v) && (PyLong_Check(v) || PyFloat_Check(v));
}

}  // namespace

py::dict to_dict(const event& e) {
  auto& K = k();
  static last_float last_time, last_ttl;
  // Sized for the fields present: a 6-field event (host service state time ttl metric)
  // overflows PyDict_New's 5 usable slots and would be resized once per event otherwise.
  Py_ssize_t fields = (e.host ? 1 : 0) + (e.service ? 1 : 0) + (e.state ? 1 : 0) +
                      (e.description ? 1 : 0) + (e.time_us ? 1 : 0) + (e.ttl ? 1 : 0) +
                      (std::holds_alternative<std::monostate>(e.metric) ? 0 : 1) +
                      (e.tags.empty() ? 0 : 1) + (e.attributes.empty() ? 0 : 1);
  PyObject* d = _PyDict_NewPresized(fields);
  if (!d)
    throw py::error_already_set();
  auto dict = py::reinterpret_steal<py::dict>(d);
  if (e.host)
    set_steal(d, K.host, cached_str(*e.host));
  if (e.service)
    set_steal(d, K.service, cached_str(*e.service));
  if (e.state)
    set_steal(d, K.state, cached_str(*e.state));
  if (e.description)
    set_steal(d, K.description, cached_str(*e.description));
  if (e.time_us)
    set_steal(d, K.time, last_time.get(static_cast<double>(*e.time_us) / 1e6));
  if (e.ttl)
    set_steal(d, K.ttl, last_ttl.get(*e.ttl));
  if (auto* i = std::get_if<int64_t>(&e.metric))
    set_steal(d, K.metric, PyLong_FromLongLong(*i));
  else if (auto* x = std::get_if<double>(&e.metric))
    set_steal(d, K.metric, PyFloat_FromDouble(*x));
  if (!e.tags.empty()) {
    PyObject* tags = PyList_New(static_cast<Py_ssize_t>(e.tags.size()));
    if (!tags)
      throw py::error_already_set();
    set_steal(d, K.tags, tags);  // the dict holds it; filled in place below
    for (size_t i = 0; i < e.tags.size(); ++i) {
      PyObject* t = cached_str(e.tags[i]);
      if (!t)
        throw py::error_already_set();
      PyList_SET_ITEM(tags, static_cast<Py_ssize_t>(i), t);
    }
  }
  if (!e.attributes.empty()) {
    PyObject* attrs = _PyDict_NewPresized(static_cast<Py_ssize_t>(e.attributes.size()));
    if (!attrs)
      throw py::error_already_set();
    set_steal(d, K.attributes, attrs);  // the dict holds it; filled in place below
    for (auto& a : e.attributes) {
      PyObject* key = cached_str(a.key);
      if (!key)
        throw py::error_already_set();
      set_steal(attrs, key, cached_str(a.value));
      Py_DECREF(key);
    }
  }
  return dict;
}

result<event> from_dict(py::handle h) {
  PyObject* d = h.ptr();
  if (!PyDict_Check(d))
    return error{ec::wrong_type, std::string{"a stream emitted a "} + Py_TYPE(d)->tp_name +
                                     " where an event dict was expected"};
  auto& K = k();
  event e;
  if (auto err = read_str(d, K.host, "host", e.host))
    return *err;
  if (auto err = read_str(d, K.service, "service", e.service))
    return *err;
  if (auto err = read_str(d, K.state, "state", e.state))
    return *err;
  if (auto err = read_str(d, K.description, "description", e.description))
    return *err;
  if (PyObject* v = PyDict_GetItemWithError(d, K.time); v && v != Py_None) {
    if (!is_number(v))
      return wrong_type("time", "a number of unix seconds", v);
    double secs = PyFloat_AsDouble(v);
    if (!std::isfinite(secs))
      return error{ec::wrong_type, "event field 'time' is not finite"};
    e.time_us = static_cast<int64_t>(std::llround(secs * 1e6));
  }
  if (PyObject* v = PyDict_GetItemWithError(d, K.ttl); v && v != Py_None) {
    if (!is_number(v))
      return wrong_type("ttl", "a number of seconds", v);
    e.ttl = PyFloat_AsDouble(v);
  }
  if (PyObject* v = PyDict_GetItemWithError(d, K.metric); v && v != Py_None) {
    if (!is_number(v))
      return wrong_type("metric", "an int or float", v);
    if (PyLong_Check(v)) {
      int overflow = 0;
      long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
      if (overflow)
        e.metric = PyLong_AsDouble(v);
      else
        e.metric = static_cast<int64_t>(i);
    } else {
      e.metric = PyFloat_AsDouble(v);
    }
  }
  if (PyObject* v = PyDict_GetItemWithError(d, K.tags); v && v != Py_None) {
    if (!PyList_Check(v) && !PyTuple_Check(v))
      return wrong_type("tags", "a list of str", v);
    py::sequence seq = py::reinterpret_borrow<py::sequence>(v);
    for (auto t : seq) {
      if (!PyUnicode_Check(t.ptr()))
        return wrong_type("tags", "a list of str", t.ptr());
      if (auto s = to_str(t.ptr()))
        e.tags.push_back(std::move(*s));
    }
  }
  if (PyObject* v = PyDict_GetItemWithError(d, K.attributes); v && v != Py_None) {
    if (!PyDict_Check(v))
      return wrong_type("attributes", "a dict", v);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(v, &pos, &key, &value)) {
      if (value == Py_None)
        continue;
      auto ks = to_str(key);
      auto vs = to_str(value);
      if (ks && vs)
        e.attributes.push_back({std::move(*ks), std::move(*vs)});
    }
  }
  // Custom top-level keys are attributes, as Riemann's encoder writes them.
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(d, &pos, &key, &value)) {
    if (value == Py_None || key == K.host || key == K.service || key == K.state ||
        key == K.description || key == K.time || key == K.ttl || key == K.metric || key == K.tags ||
        key == K.attributes)
      continue;
    auto ks = to_str(key);
    if (!ks || ks == "host" || ks == "service" || ks == "state" || ks == "description" ||
        ks == "time" || ks == "ttl" || ks == "metric" || ks == "tags" || ks == "attributes")
      continue;
    if (e.find_attribute(*ks))
      continue;
    if (auto vs = to_str(value))
      e.attributes.push_back({std::move(*ks), std::move(*vs)});
  }
  return e;
}

}  // namespace dmon::event_convert
