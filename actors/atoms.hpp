// Every CAF atom dmon's actors exchange (CAF 0.17: at most 10 characters each).
#pragma once

#include <caf/atom.hpp>

namespace dmon {

/// Events to run through the streams (router, stream actors).
using ingest_atom = caf::atom_constant<caf::atom("ingest")>;
/// Raw TCP frames from a connection to its parser.
using frames_atom = caf::atom_constant<caf::atom("frames")>;
/// Raw datagrams from a UDP listener to its parser.
using datagrams_atom = caf::atom_constant<caf::atom("datagrams")>;
/// A batch another node's router sends to the owner of its keys (encoded events).
using forward_atom = caf::atom_constant<caf::atom("forward")>;
/// Events a regroup() stream sends to the owner of their new key.
using regroup_atom = caf::atom_constant<caf::atom("regroup")>;
/// Periodic timer tick into the streams.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Save the streams' state to the store.
using checkpoint_atom = caf::atom_constant<caf::atom("checkpoint")>;
/// A shard's index and history writes to the storage actor.
using write_atom = caf::atom_constant<caf::atom("write")>;
/// Commit the storage actor's open commit group (scheduled by the actor itself).
using commit_atom = caf::atom_constant<caf::atom("commit")>;
/// Commit whatever the storage actor holds now (shutdown).
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Periodic expiry sweep of the index.
using reap_atom = caf::atom_constant<caf::atom("reap")>;

}  // namespace dmon
