// Keeps a thread's Python thread state alive across GIL acquisitions (see python_gil.hpp).
#include "python_gil.hpp"

namespace dmon {

python_gil::python_gil() {
  // A count of one is this acquisition's own: pybind11 just created the state and would
  // delete it when `acquire_` ends. One more reference keeps it for the thread's next batch.
  // States the interpreter made (the main thread's, Python's own threads) count higher.
  if (PyThreadState_Get()->gilstate_counter == 1)
    acquire_.inc_ref();
}

}  // namespace dmon
