// The boundary where user Python code runs: every call into it is wrapped, counted and recovered.
#include "stream_host.hpp"

#include <pybind11/embed.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <type_traits>

#include "event_convert.hpp"
#include "json_codec.hpp"
#include "native/engine.hpp"
#include "native_graph.hpp"
#include "python_gil.hpp"

namespace py = pybind11;

namespace dmon {

namespace {

constexpr int64_t first_backoff_us = 100'000;
constexpr int64_t max_backoff_us = 30'000'000;
// A failing stream on a busy node would log once per event; keep one traceback a second.
constexpr int64_t log_interval_us = 1'000'000;

std::string describe(const event& e) {
  return json_codec::encode(e);
}

std::string describe(py::handle ev) {
  if (!ev || ev.is_none())
    return "(no event)";
  auto converted = event_convert::from_dict(ev);
  if (converted)
    return describe(*converted);
  return py::repr(ev).cast<std::string>();
}

// Formats the Python exception currently held by `err` as a full traceback.
std::string traceback_of(py::error_already_set& err) {
  try {
    auto tb = py::module_::import("traceback");
    auto lines = tb.attr("format_exception")(err.type(), err.value(), err.trace());
    return py::str("").attr("join")(lines).cast<std::string>();
  } catch (const std::exception&) {
    return err.what();
  }
}

std::string traceback_of(py::handle exc) {
  try {
    auto tb = py::module_::import("traceback");
    auto lines =
        tb.attr("format_exception")(py::type::handle_of(exc), exc, exc.attr("__traceback__"));
    return py::str("").attr("join")(lines).cast<std::string>();
  } catch (const std::exception&) {
    return py::repr(exc).cast<std::string>();
  }
}

// "false", "0", "no", "off" (any case) turn a switch off.
bool switched_off(const std::string& v) {
  std::string l;
  for (char c : v)
    l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l == "false" || l == "0" || l == "no" || l == "off";
}

struct root_stream {
  std::string name;
  /// Its number in the native engine; -1 when it runs in Python.
  int native = -1;
  py::object send;  // the bound `send` method; empty while waiting to be rebuilt
  int failures = 0;
  bool failed_this_batch = false;
  int64_t rebuild_at_us = 0;
  int64_t last_log_us = 0;
  uint64_t unlogged = 0;
};

}  // namespace

struct stream_host::impl {
  stream_host_config cfg;
  stream_sinks sinks;
  stream_counters counters;
  py::object runtime;
  py::object activate;
  py::object rebuild;
  std::vector<root_stream> roots;
  int64_t last_child_log_us = 0;
  std::unique_ptr<native::engine> engine;
  /// dmon.state's `native` mapping: root name -> delegate; None without native roots.
  py::object native_state = py::none();
  /// Whether any root runs in Python or calls Python predicates (then process() takes the GIL).
  bool needs_gil = true;
  /// Whether a native root calls Python predicates (then its timers run under the GIL too).
  bool native_calls_python = false;
  /// regroup() streams of native roots by address (dmon.runtime.Runtime.bind_regroups gave
  /// them): their root's number in the engine. Every other address is looked up in the
  /// Python runtime (Runtime.regroup_in).
  std::map<std::string, size_t> native_regroups;
  int64_t last_regroup_log_us = 0;

  ~impl() {
    python_gil gil;
    native_state = py::object{};
    engine.reset();
    roots.clear();
    runtime = activate = rebuild = py::object{};
  }

  bool native_enabled(std::string& why_not) const {
    if (auto it = cfg.settings.find("native_streams");
        it != cfg.settings.end() && switched_off(it->second)) {
      why_not = "native-streams is off in the configuration";
      return false;
    }
    if (const char* env = std::getenv("DMON_NATIVE_STREAMS"); env && switched_off(env)) {
      why_not = "DMON_NATIVE_STREAMS=" + std::string{env};
      return false;
    }
    return true;
  }

  // Native nodes do not throw; a Python subtree whose error reporting itself fails might.
  // Counted and logged like a root failure; the root keeps running. `owned`: the event is the
  // caller's to give away (the last root of an owned batch), so the graph may move it on.
  void push_native(root_stream& r, const event& e, event* owned = nullptr) {
    try {
      if (owned)
        engine->push_owned(static_cast<size_t>(r.native), std::move(*owned));
      else
        engine->push(static_cast<size_t>(r.native), e);
    } catch (const std::exception& ex) {
      ++counters.root_exceptions;
      auto now = now_micros();
      if (now - r.last_log_us >= log_interval_us) {
        r.last_log_us = now;
        spdlog::error("stream shard {}: native stream '{}' failed on event {}: {}", cfg.shard,
                      r.name, describe(e), ex.what());
      }
    }
  }

  // Compiles every root made only of built-ins; the rest stay in Python. GIL held.
  void compile_native(const std::vector<py::object>& streams) {
    std::string why_not;
    if (!native_enabled(why_not)) {
      spdlog::info(
          "stream shard {}: native stream execution disabled ({}); every root runs in Python",
          cfg.shard, why_not);
      counters.python_roots = roots.size();
      return;
    }
    native::sinks out;
    // The host's own sinks, called directly: an event a node hands over is moved, not copied.
    out.index = sinks.index;
    out.store = sinks.store;
    out.publish = [f = sinks.publish](const std::string& t, const event& e) { f(t, e); };
    if (sinks.regroup)
      out.regroup = [this](const std::string& address, const std::vector<std::string>& fields,
                           const event& e) {
        ++counters.regrouped_out;
        sinks.regroup(address, fields, e);
      };
    auto clock = cfg.clock_us;
    native::compile_options opts;
    opts.store = bool(sinks.store);
    opts.publish = bool(sinks.publish);
    engine = std::make_unique<native::engine>(
        [clock] { return static_cast<double>(clock ? clock() : now_micros()) / 1e6; },
        std::move(out), opts);
    py::dict delegates;
    needs_gil = false;
    for (size_t i = 0; i < roots.size(); ++i) {
      auto& r = roots[i];
      auto n = native_graph::compile_root(*engine, r.name, streams[i]);
      if (n) {
        r.native = static_cast<int>(*n);
        for (auto& address : engine->regroup_addresses(*n))
          native_regroups.emplace(address, *n);
        delegates[py::str(r.name)] = native_graph::state_delegate(*engine, *n);
        ++counters.native_roots;
        if (engine->calls_host(*n)) {
          needs_gil = true;
          native_calls_python = true;
          spdlog::info(
              "stream shard {}: root '{}' runs natively, calling Python only for its "
              "where predicate(s)",
              cfg.shard, r.name);
        } else {
          spdlog::info("stream shard {}: root '{}' runs natively (no GIL)", cfg.shard, r.name);
        }
      } else {
        needs_gil = true;
        ++counters.python_roots;
        spdlog::info("stream shard {}: root '{}' runs in Python: {}", cfg.shard, r.name,
                     n.error().message);
      }
    }
    native_state = delegates;
  }

  py::dict settings_dict() const {
    py::dict d;
    for (auto& [k, v] : cfg.settings)
      d[py::str(k)] = v;
    return d;
  }

  template <class Target>
  py::cpp_function sink(Target target, const char* what) {
    return py::cpp_function([target = std::move(target), what](py::handle ev) {
      auto converted = event_convert::from_dict(ev);
      if (!converted)
        throw py::type_error(std::string{what} + ": " + converted.error().message);
      target(std::move(*converted));
    });
  }

  py::cpp_function exception_reporter() {
    return py::cpp_function([this](py::str where, py::handle ev, py::handle exc) {
      ++counters.child_exceptions;
      auto now = now_micros();
      if (now - last_child_log_us < log_interval_us)
        return;
      last_child_log_us = now;
      spdlog::error("stream shard {}: {} raised on event {} (stream goes on):\n{}", cfg.shard,
                    where.cast<std::string>(), describe(ev), traceback_of(exc));
    });
  }

  // process() and process_owned(): every event of the batch to every root, in order.
  template <class Event>
  void run(std::span<Event> batch);

  void on_root_failure(root_stream& r, const event& e, py::error_already_set& err) {
    ++counters.root_exceptions;
    ++r.failures;
    r.failed_this_batch = true;
    r.send = py::object{};
    auto now = now_micros();
    int64_t backoff = r.failures <= 1 ? 0
                                      : std::min(max_backoff_us,
                                                 first_backoff_us << std::min(r.failures - 2, 20));
    r.rebuild_at_us = now + backoff;
    if (now - r.last_log_us >= log_interval_us) {
      spdlog::error(
          "stream shard {}: stream '{}' raised on event {}; rebuilding it{} ({} more failures "
          "since the last report):\n{}",
          cfg.shard, r.name, describe(e),
          backoff ? fmt::format(" in {:.1f} s", backoff / 1e6) : std::string{}, r.unlogged,
          traceback_of(err));
      r.last_log_us = now;
      r.unlogged = 0;
    } else {
      ++r.unlogged;
    }
  }

  bool ensure_built(root_stream& r, int64_t now) {
    if (r.send)
      return true;
    if (now < r.rebuild_at_us)
      return false;
    try {
      py::object s = rebuild(cfg.module, r.name, runtime);
      r.send = s.attr("send");
      ++counters.rebuilds;
      return true;
    } catch (py::error_already_set& err) {
      ++r.failures;
      r.rebuild_at_us =
          now + std::min(max_backoff_us, first_backoff_us << std::min(r.failures, 20));
      spdlog::error("stream shard {}: rebuilding stream '{}' failed; next try in {:.1f} s:\n{}",
                    cfg.shard, r.name, (r.rebuild_at_us - now) / 1e6, traceback_of(err));
      return false;
    }
  }
};

stream_host::stream_host(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

stream_host::~stream_host() = default;

result<std::unique_ptr<stream_host>> stream_host::load(const stream_host_config& cfg,
                                                       stream_sinks sinks) {
  auto p = std::make_unique<impl>();
  p->cfg = cfg;
  p->sinks = std::move(sinks);
  python_gil gil;
  try {
    auto runtime_mod = py::module_::import("dmon.runtime");
    auto loader = py::module_::import("dmon.loader");
    py::object publish = py::none(), store = py::none();
    if (p->sinks.publish)
      publish = py::cpp_function([target = p->sinks.publish](std::string topic, py::handle ev) {
        auto converted = event_convert::from_dict(ev);
        if (!converted)
          throw py::type_error("publish(): " + converted.error().message);
        target(topic, std::move(*converted));
      });
    if (p->sinks.store)
      store = p->sink(p->sinks.store, "store()");
    py::object regroup = py::none();
    if (p->sinks.regroup)
      regroup = py::cpp_function([s = p.get()](std::string address, py::list names, py::handle ev) {
        std::vector<std::string> fields;
        fields.reserve(names.size());
        for (auto n : names)
          fields.push_back(n.cast<std::string>());
        auto converted = event_convert::from_dict(ev);
        if (!converted)
          throw py::type_error("regroup(): " + converted.error().message);
        ++s->counters.regrouped_out;
        s->sinks.regroup(address, fields, std::move(*converted));
      });
    py::object clock = py::none();
    if (cfg.clock_us)
      clock = py::cpp_function([f = cfg.clock_us] { return static_cast<double>(f()) / 1e6; });
    p->runtime = runtime_mod.attr("Runtime")(
        py::arg("index") = p->sink(p->sinks.index, "index()"),
        py::arg("reinject") = p->sink(p->sinks.reinject, "reinject()"),
        py::arg("config") = p->settings_dict(), py::arg("on_exception") = p->exception_reporter(),
        py::arg("publish") = publish, py::arg("store") = store, py::arg("clock") = clock,
        py::arg("regroup") = regroup);
    p->activate = runtime_mod.attr("activate");
    p->rebuild = loader.attr("rebuild");
    auto streams = loader.attr("load")(cfg.module, p->runtime);
    std::vector<py::object> objects;
    for (auto item : streams) {
      auto pair = item.cast<py::tuple>();
      root_stream r;
      r.name = pair[0].cast<std::string>();
      r.send = pair[1].attr("send");
      objects.push_back(pair[1]);
      p->roots.push_back(std::move(r));
    }
    p->compile_native(objects);
  } catch (py::error_already_set& err) {
    return error{ec::stream_failure, "stream module '" + cfg.module +
                                         "' failed to load; fix it and restart dmond:\n" +
                                         traceback_of(err)};
  }
  return std::unique_ptr<stream_host>(new stream_host(std::move(p)));
}

template <class Event>
void stream_host::impl::run(std::span<Event> batch) {
  constexpr bool owned = !std::is_const_v<Event>;
  auto& s = *this;
  // The last root may take the event when the batch is the caller's to give away; the
  // earlier roots see it first, untouched.
  auto give = [&](root_stream& r, Event& e) -> event* {
    if constexpr (owned)
      return &r == &s.roots.back() ? &e : nullptr;
    else
      return nullptr;
  };
  if (!s.needs_gil) {
    // Every root is native: no GIL, no dicts.
    for (auto& e : batch) {
      ++s.counters.events_in;
      for (auto& r : s.roots)
        s.push_native(r, e, give(r, e));
    }
    return;
  }
  python_gil gil;
  s.activate(s.runtime);
  auto now = now_micros();
  for (auto& r : s.roots) {
    r.failed_this_batch = false;
    s.ensure_built(r, now);
  }
  for (auto& e : batch) {
    ++s.counters.events_in;
    py::object d;  // built on first use: native roots never need it
    for (auto& r : s.roots) {
      if (r.native >= 0) {
        s.push_native(r, e, give(r, e));
        continue;
      }
      if (!d.ptr())
        d = event_convert::to_dict(e);
      if (!r.send && !s.ensure_built(r, now)) {
        ++s.counters.skipped;
        continue;
      }
      PyObject* res = PyObject_CallOneArg(r.send.ptr(), d.ptr());
      if (res) {
        Py_DECREF(res);
        continue;
      }
      py::error_already_set err;
      s.on_root_failure(r, e, err);
    }
  }
  for (auto& r : s.roots)
    if (!r.failed_this_batch && r.send)
      r.failures = 0;
}

void stream_host::process(std::span<const event> batch) {
  impl_->run(batch);
}

void stream_host::process_owned(std::span<event> batch) {
  impl_->run(batch);
}

size_t stream_host::deliver_regrouped(std::span<const regrouped_event> batch,
                                      std::string* unknown) {
  auto& s = *impl_;
  size_t missing = 0;
  std::optional<python_gil> gil;  // taken on the first delivery that needs Python
  auto take_gil = [&] {
    if (gil)
      return;
    gil.emplace();
    s.activate(s.runtime);
  };
  for (auto& r : batch) {
    ++s.counters.regrouped_in;
    if (auto it = s.native_regroups.find(r.address); it != s.native_regroups.end()) {
      auto root = it->second;
      if (s.engine->calls_host(root))
        take_gil();
      try {
        s.engine->deliver_regrouped(root, r.address, r.e);
      } catch (const std::exception& ex) {
        ++s.counters.root_exceptions;
        spdlog::error("stream shard {}: native regroup '{}' failed on event {}: {}", s.cfg.shard,
                      r.address, describe(r.e), ex.what());
      }
      continue;
    }
    take_gil();
    try {
      s.runtime.attr("regroup_in")(r.address, event_convert::to_dict(r.e));
    } catch (py::error_already_set& err) {
      bool is_unknown = err.matches(PyExc_KeyError);
      if (is_unknown) {
        ++missing;
        ++s.counters.regroup_unknown;
        if (unknown && unknown->empty())
          *unknown = r.address;
      } else {
        ++s.counters.child_exceptions;
      }
      auto now = now_micros();
      if (now - s.last_regroup_log_us >= log_interval_us) {
        s.last_regroup_log_us = now;
        if (is_unknown)
          spdlog::error(
              "stream shard {}: a regrouped event arrived for regroup() stream '{}', which this "
              "node's stream module '{}' does not have ({} such events so far): every node must "
              "load the same stream module",
              s.cfg.shard, r.address, s.cfg.module, s.counters.regroup_unknown);
        else
          spdlog::error("stream shard {}: regroup() stream '{}' raised on event {}:\n{}",
                        s.cfg.shard, r.address, describe(r.e), traceback_of(err));
      }
    }
  }
  return missing;
}

void stream_host::tick(int64_t now_us) {
  auto& s = *impl_;
  double now = static_cast<double>(now_us) / 1e6;
  if (s.engine && !s.native_calls_python)
    s.engine->tick(now);  // no GIL: nothing below a timer calls Python
  python_gil gil;
  if (s.engine && s.native_calls_python)
    s.engine->tick(now);
  try {
    s.activate(s.runtime);
    s.runtime.attr("tick")(static_cast<double>(now_us) / 1e6);
  } catch (py::error_already_set& err) {
    ++s.counters.child_exceptions;
    spdlog::error("stream shard {}: a timer raised:\n{}", s.cfg.shard, traceback_of(err));
  }
}

std::string stream_host::snapshot_state() {
  auto& s = *impl_;
  python_gil gil;
  try {
    auto state = py::module_::import("dmon.state");
    return state.attr("dumps")(state.attr("snapshot")(s.runtime, s.native_state))
        .cast<std::string>();
  } catch (py::error_already_set& err) {
    spdlog::error("stream shard {}: snapshot of stream state failed:\n{}", s.cfg.shard,
                  traceback_of(err));
    return {};
  }
}

size_t stream_host::restore_state(const std::string& json) {
  auto& s = *impl_;
  python_gil gil;
  try {
    auto state = py::module_::import("dmon.state");
    s.activate(s.runtime);
    auto report = state.attr("restore")(s.runtime, state.attr("loads")(json), s.native_state);
    auto restored = py::len(report["restored"]);
    auto dropped = py::len(report["dropped"]);
    spdlog::info("stream shard {}: restored the state of {} stream(s){}", s.cfg.shard, restored,
                 dropped ? fmt::format(", dropped {} that no longer match the module", dropped)
                         : std::string{});
    return restored;
  } catch (py::error_already_set& err) {
    spdlog::error("stream shard {}: restoring stream state failed; starting fresh:\n{}",
                  s.cfg.shard, traceback_of(err));
    return 0;
  }
}

std::vector<key_state> stream_host::export_keys(key_export which,
                                                const std::function<bool(const key_state&)>& want) {
  auto& s = *impl_;
  python_gil gil;
  std::vector<key_state> out;
  auto part = [](py::handle v) -> std::optional<std::string> {
    if (v.is_none())
      return std::nullopt;
    if (py::isinstance<py::str>(v))
      return v.cast<std::string>();
    return py::str(v).cast<std::string>();
  };
  try {
    auto state = py::module_::import("dmon.state");
    // Only the streams whose state is per key are saved: a module without any costs nothing.
    auto only = state.attr("keyed_paths")(s.runtime);
    if (py::len(only) == 0)
      return out;
    auto parts = state.attr("split_keys")(state.attr("snapshot")(
        s.runtime, s.native_state, only, py::arg("changed") = which == key_export::changed));
    auto dumps = state.attr("dumps");
    for (auto item : parts.cast<py::dict>()) {
      // (host, service), or a regroup key's values (two of them hash the same way).
      auto k = item.first.cast<py::tuple>();
      key_state ks;
      if (k.size() == 2) {
        ks.host = part(k[0]);
        ks.service = part(k[1]);
      } else {
        ks.values.emplace();
        for (auto v : k)
          ks.values->push_back(part(v));
      }
      if (want && !want(ks))
        continue;
      ks.json = dumps(item.second).cast<std::string>();
      out.push_back(std::move(ks));
    }
  } catch (py::error_already_set& err) {
    spdlog::error("stream shard {}: exporting per-key stream state failed:\n{}", s.cfg.shard,
                  traceback_of(err));
    return {};
  }
  return out;
}

size_t stream_host::import_keys(std::span<const key_state> slices) {
  auto& s = *impl_;
  if (slices.empty())
    return 0;
  python_gil gil;
  try {
    auto state = py::module_::import("dmon.state");
    auto loads = state.attr("loads");
    py::list parsed;
    for (auto& k : slices)
      parsed.append(loads(k.json));
    s.activate(s.runtime);
    auto report = state.attr("import_keys")(s.runtime, parsed, s.native_state);
    return py::len(report["restored"]);
  } catch (py::error_already_set& err) {
    spdlog::error("stream shard {}: importing the stream state of {} key(s) failed:\n{}",
                  s.cfg.shard, slices.size(), traceback_of(err));
    return 0;
  }
}

std::vector<std::string> stream_host::stream_names() const {
  std::vector<std::string> out;
  for (auto& r : impl_->roots)
    out.push_back(r.name);
  return out;
}

std::vector<std::string> stream_host::native_stream_names() const {
  std::vector<std::string> out;
  for (auto& r : impl_->roots)
    if (r.native >= 0)
      out.push_back(r.name);
  return out;
}

const stream_counters& stream_host::counters() const {
  return impl_->counters;
}

}  // namespace dmon
