// Conversion between dmon::event and the Python dicts streams see; callers hold the GIL.
#pragma once

#include <pybind11/pytypes.h>

#include "error.hpp"
#include "event.hpp"

namespace dmon::event_convert {

/// Returns a new dict with only the fields present: host service state description
/// (str), time (float seconds), ttl (float), metric (int or float), tags (list),
/// attributes (dict of str). Keys are interned strings built once.
pybind11::dict to_dict(const event& e);

/// Reads a dict a stream emitted. Unknown top-level keys become attributes with
/// str(value), as Riemann's encoder does; None values are skipped. Returns
/// wrong_type naming the field when a core field has the wrong type.
result<event> from_dict(pybind11::handle dict);

}  // namespace dmon::event_convert
