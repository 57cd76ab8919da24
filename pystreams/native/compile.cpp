// The native graph compiler: accepts only built-ins whose parameters it can represent exactly.
#include "native/compile.hpp"

#include <algorithm>

#include "native/nodes.hpp"

namespace dmon::native {

namespace {

const char* const string_fields[] = {"host", "service", "state", "description"};

bool is_string_field(const std::string& f) {
  return std::find(std::begin(string_fields), std::end(string_fields), f) !=
         std::end(string_fields);
}

bool is_core(const std::string& f) {
  return is_string_field(f) || f == "time" || f == "ttl" || f == "metric" || f == "tags" ||
         f == "attributes";
}

struct compiler {
  context& ctx;
  const compile_options& opts;
  /// Nodes that call into the host (Python predicates).
  size_t python_calls = 0;

  error no(const std::string& path, const std::string& why) const {
    return error{ec::unsupported, path + ": " + why};
  }

  result<std::vector<node_ptr>> list(const json& desc, const char* key, const std::string& path,
                                     const std::string& label_prefix) {
    std::vector<node_ptr> out;
    auto it = desc.find(key);
    if (it == desc.end())
      return out;
    if (!it->is_array())
      return no(path, std::string{"'"} + key + "' is not a list");
    for (size_t i = 0; i < it->size(); ++i) {
      auto& c = (*it)[i];
      std::string kind = c.is_object() && c.contains("stream") && c["stream"].is_string()
                             ? c["stream"].get<std::string>()
                             : "?";
      auto n = build(c, path + "/" + label_prefix + std::to_string(i) + ":" + kind);
      if (!n)
        return n.error();
      out.push_back(std::move(*n));
    }
    return out;
  }

  std::optional<number> num(const json& desc, const char* key) const {
    auto it = desc.find(key);
    return it == desc.end() ? std::nullopt : number::from_json(*it);
  }

  result<std::vector<std::string>> strings(const json& desc, const char* key,
                                           const std::string& path) const {
    auto it = desc.find(key);
    if (it == desc.end() || !it->is_array())
      return no(path, std::string{"'"} + key + "' is not a list of strings");
    std::vector<std::string> out;
    for (auto& s : *it) {
      if (!s.is_string())
        return no(path, std::string{"'"} + key + "' holds a non-string: " + s.dump());
      out.push_back(s.get<std::string>());
    }
    return out;
  }

  // A with_/default field value the native event can hold exactly as the Python path would
  // hand it to the index.
  result<field_value> value(const std::string& name, const json& v, bool only_missing,
                            const std::string& path) const {
    using T = field_value::type;
    field_value out;
    if (v.is_null())
      return out;
    auto bad = [&] { return no(path, "field '" + name + "' cannot be set to " + v.dump()); };
    if (name == "attributes" || (only_missing && name == "tags"))
      return no(path, "field '" + name + "' stays in Python (an empty value differs from none)");
    if (is_string_field(name)) {
      if (!v.is_string())
        return bad();
      out.t = T::text;
      out.text = v.get<std::string>();
    } else if (name == "time" || name == "ttl" || name == "metric") {
      auto n = number::from_json(v);
      if (!n)
        return bad();
      out.t = T::num;
      out.num = *n;
    } else if (name == "tags") {
      if (!v.is_array())
        return bad();
      for (auto& t : v) {
        if (!t.is_string())
          return bad();
        out.tags.push_back(t.get<std::string>());
      }
      out.t = T::tags;
    } else if (v.is_string()) {  // an attribute: str(value)
      out.t = T::text;
      out.text = v.get<std::string>();
    } else if (v.is_boolean()) {
      out.t = T::boolean;
      out.boolean = v.get<bool>();
    } else if (v.is_number_integer()) {
      out.t = T::num;
      out.num = *number::from_json(v);
    } else {
      return bad();  // str(float) formatting stays Python's
    }
    return out;
  }

  result<node_ptr> build_by(const json& desc, const std::string& path) {
    if (desc.contains("builder"))
      return no(path, "by_builder calls a Python function per key");
    auto fields = strings(desc, "fields", path);
    if (!fields)
      return fields.error();
    if (fields->empty())
      return no(path, "by without fields");
    for (auto& f : *fields)
      if (f == "python" || (is_core(f) && !is_string_field(f)))
        return no(path, "by on '" + f + "' (only string fields run natively)");
    std::optional<number> idle;
    if (desc.contains("idle")) {
      idle = num(desc, "idle");
      if (!idle || !(idle->as_double() > 0))
        return no(path, "idle is not a positive number");
    }
    // Factories (by(..., lambda: rate(...))) were called once by dmon.native.plan and
    // described; their streams join the templates in order.
    std::vector<node_ptr> templates;
    auto it = desc.find("children");
    for (size_t i = 0; it != desc.end() && i < it->size(); ++i) {
      auto& c = (*it)[i];
      if (c.value("stream", std::string{}) == "factory") {
        auto made = list(c, "children", path + "/" + std::to_string(i) + ":factory", "");
        if (!made)
          return made.error();
        for (auto& m : *made)
          templates.push_back(std::move(m));
      } else {
        auto n =
            build(c, path + "/" + std::to_string(i) + ":" + c.value("stream", std::string{"?"}));
        if (!n)
          return n.error();
        templates.push_back(std::move(*n));
      }
    }
    return make_by(ctx, std::move(*fields), idle, std::move(templates));
  }

  // A node that does not compile natively but may run in Python below the native graph.
  result<node_ptr> build(const json& desc, const std::string& path) {
    auto n = build_native(desc, path);
    if (n || !opts.python_leaf || !desc.is_object() || !desc.contains("leaf"))
      return n;
    auto leaf = opts.python_leaf(desc);
    if (!leaf)
      return n.error();
    ++python_calls;
    return leaf;
  }

  result<node_ptr> build_native(const json& desc, const std::string& path) {
    if (!desc.is_object() || !desc.contains("stream") || !desc["stream"].is_string())
      return no(path, "not a stream description");
    std::string kind = desc["stream"].get<std::string>();
    if (kind == "by")
      return build_by(desc, path);
    auto kids = list(desc, "children", path, "");
    if (!kids)
      return kids.error();
    auto& children = *kids;

    if (kind == "python") {
      if (desc.contains("shared"))
        return no(path, "a stateful stream used in two places (its shared state stays in Python)");
      if (desc.contains("factory"))
        return no(path, "by's function " + desc["factory"].get<std::string>());
      return no(path, "a Python function, generator or custom stream");
    }
    if (kind == "where") {
      auto els = list(desc, "else", path, "else.");
      if (!els)
        return els.error();
      if (!desc.contains("query")) {
        if (!opts.python_predicate || !desc.contains("ref"))
          return no(path, "where with a Python predicate");
        auto pred = opts.python_predicate(desc);
        if (!pred)
          return no(path, pred.error().message);
        ++python_calls;
        return make_where_fn(std::move(*pred), std::move(children), std::move(*els));
      }
      auto q = desc["query"].get<std::string>();
      std::optional<bool> always;
      std::optional<query::predicate> pred;
      if (desc.value("constant", false)) {
        always = q == "true";
      } else {
        auto p = query::parse_cached(q);
        if (!p)
          return no(path, "query does not compile natively: " + p.error().message);
        pred = std::move(*p);
      }
      return make_where(std::move(pred), always, std::move(children), std::move(*els));
    }
    if (kind == "match") {
      if (desc.contains("equals")) {
        auto field = desc.value("field", std::string{});
        if (field.empty() || (is_core(field) && !is_string_field(field)))
          return no(path, "match on '" + field + "' (only string fields run natively)");
        auto& v = desc["equals"];
        return make_match_equals(
            field, v.is_null() ? std::nullopt : std::optional<std::string>{v.get<std::string>()},
            std::move(children));
      }
      if (!opts.python_predicate || !desc.contains("ref"))
        return no(path, "match with a Python function or pattern");
      auto pred = opts.python_predicate(desc);
      if (!pred)
        return no(path, pred.error().message);
      ++python_calls;
      return make_match_fn(std::move(*pred), std::move(children));
    }
    if (kind == "split") {
      auto it = desc.find("clauses");
      if (it == desc.end() || !it->is_array() || it->size() != children.size())
        return no(path, "split clauses not described");
      std::vector<split_clause> clauses;
      for (auto& c : *it) {
        split_clause sc;
        if (c.contains("query")) {
          auto p = query::parse_cached(c["query"].get<std::string>());
          if (!p)
            return no(path, "query does not compile natively: " + p.error().message);
          sc.query = std::move(*p);
        } else if (c.contains("ref")) {
          if (!opts.python_predicate)
            return no(path, "split with a Python predicate");
          auto pred = opts.python_predicate(c);
          if (!pred)
            return no(path, pred.error().message);
          ++python_calls;
          sc.fn = std::move(*pred);
        } else if (!c.contains("default")) {
          return no(path, "split with a Python predicate");
        }
        clauses.push_back(std::move(sc));
      }
      return make_split(std::move(clauses), std::move(children));
    }
    if (kind == "tagged_all" || kind == "tagged_any") {
      auto tags = strings(desc, "tags", path);
      if (!tags)
        return tags.error();
      return make_tagged(kind == "tagged_all", std::move(*tags), std::move(children));
    }
    if (kind == "over" || kind == "under") {
      auto x = num(desc, "x");
      if (!x)
        return no(path, "threshold is not an int or float");
      return make_threshold(kind == "over", *x, std::move(children));
    }
    if (kind == "expired" || kind == "not_expired")
      return make_expired(kind == "expired", ctx, std::move(children));
    if (kind == "sdo")
      return make_sdo(std::move(children));
    if (kind == "with" || kind == "default") {
      auto it = desc.find("field_list");
      if (it == desc.end() || !it->is_array())
        return no(path, "fields not described");
      std::vector<field_assignment> fields;
      for (auto& pair : *it) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string())
          return no(path, "a field name is not a string");
        auto name = pair[0].get<std::string>();
        auto v = value(name, pair[1], kind == "default", path);
        if (!v)
          return v.error();
        fields.push_back({std::move(name), std::move(*v)});
      }
      return make_with(kind == "default", std::move(fields), std::move(children));
    }
    if (kind == "tag" || kind == "untag") {
      auto tags = strings(desc, "tags", path);
      if (!tags)
        return tags.error();
      return make_tag(kind == "tag", std::move(*tags), std::move(children));
    }
    if (kind == "scale") {
      auto f = num(desc, "factor");
      if (!f)
        return no(path, "factor is not an int or float");
      return make_scale(*f, std::move(children));
    }
    if (kind == "index")
      return make_index(ctx);
    if (kind == "store") {
      if (!opts.store)
        return no(path, "store() without a native history sink");
      return make_store(ctx);
    }
    if (kind == "publish") {
      if (!opts.publish)
        return no(path, "publish() without a native pubsub sink");
      auto it = desc.find("topic");
      if (it == desc.end() || !it->is_string())
        return no(path, "topic is not a string");
      return make_publish(ctx, it->get<std::string>());
    }
    if (kind == "rate") {
      auto i = num(desc, "interval");
      if (!i || !(i->as_double() > 0))
        return no(path, "interval is not a positive number");
      return make_rate(ctx, *i, std::move(children));
    }
    if (kind == "changed") {
      if (desc.value("pairs", false))
        return no(path, "changed with pairs=True");
      auto field = desc.value("field", std::string{"python"});
      auto init = desc.find("init");
      bool string_value = field != "python" && (!is_core(field) || is_string_field(field));
      bool string_init = init != desc.end() && (init->is_null() || init->is_string());
      if (string_value && string_init)
        return make_changed(
            field,
            init->is_null() ? std::nullopt : std::optional<std::string>{init->get<std::string>()},
            std::move(children));
      if (!opts.python_changed || !desc.contains("ref"))
        return no(path, "changed on '" + field +
                            "' with this init (only string fields and "
                            "string inits run natively)");
      auto n = opts.python_changed(desc, std::move(children));
      if (!n)
        return no(path, n.error().message);
      ++python_calls;
      return n;
    }
    if (kind == "throttle") {
      auto n = desc.find("n");
      auto dt = num(desc, "dt");
      auto anchor = num(desc, "anchor");
      if (n == desc.end() || !n->is_number_integer() || !dt || !(dt->as_double() > 0) || !anchor)
        return no(path, "throttle needs an int n, a positive dt and its anchor");
      return make_throttle(ctx, n->get<int64_t>(), *dt, anchor->as_double(), std::move(children));
    }
    if (kind == "coalesce") {
      auto dt = num(desc, "dt");
      if (!dt || !(dt->as_double() > 0))
        return no(path, "dt is not a positive number");
      for (auto& c : children)
        if (!c->takes_lists())
          return no(path, "coalesce sends lists; '" + c->kind() +
                              "' below it treats them differently in Python");
      return make_coalesce(ctx, *dt, std::move(children));
    }
    if (kind == "regroup") {
      auto fields = strings(desc, "fields", path);
      if (!fields)
        return fields.error();
      auto it = desc.find("address");
      if (it == desc.end() || !it->is_string())
        return no(path,
                  "regroup without an address (built by a function given to by(), it "
                  "cannot be found on the new key's owner)");
      return make_regroup(ctx, it->get<std::string>(), std::move(*fields), std::move(children));
    }
    if (kind == "factory")
      return no(path, "a stream factory outside by");
    return no(path, "'" + kind + "' has no native implementation");
  }
};

}  // namespace

result<node_ptr> compile(const json& desc, context& ctx, const compile_options& opts,
                         size_t* host_calls) {
  compiler c{ctx, opts};
  std::string kind = "?";
  if (desc.is_object() && desc.contains("stream") && desc["stream"].is_string())
    kind = desc["stream"].get<std::string>();
  try {
    auto out = c.build(desc, kind);
    if (host_calls)
      *host_calls = c.python_calls;
    return out;
  } catch (const json::exception& e) {
    return error{ec::unsupported, kind + ": unexpected description (" + e.what() + ")"};
  }
}

}  // namespace dmon::native
