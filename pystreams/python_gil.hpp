// dmon::python_gil: the GIL for one batch, on a thread whose Python thread state outlives it.
#pragma once

#include <pybind11/pybind11.h>

namespace dmon {

/// Takes the GIL as pybind11::gil_scoped_acquire does, but keeps the calling thread's Python
/// thread state once the GIL is released. A bare gil_scoped_acquire on a thread that has none
/// (a shard's own thread: shards are detached actors) creates one and deletes it again at the
/// end of its scope: per batch, a PyThreadState_New, a fresh 16 KiB frame stack (an mmap and
/// four zeroed pages) and its munmap, whose TLB shootdown interrupts the other CPU as well.
/// A shard's thread lives as long as the shard, and the shards end before the interpreter,
/// which frees the states kept when it finalizes. A thread that ends earlier leaves its state
/// behind (a few KiB) until then, so this is for long-lived threads.
class python_gil {
 public:
  python_gil();

  python_gil(const python_gil&) = delete;
  python_gil& operator=(const python_gil&) = delete;

 private:
  pybind11::gil_scoped_acquire acquire_;
};

}  // namespace dmon
