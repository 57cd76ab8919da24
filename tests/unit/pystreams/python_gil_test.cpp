// python_gil: a worker thread keeps its Python thread state (and so its threading.local data)
// from one acquisition to the next, where a bare gil_scoped_acquire starts afresh each time.
#include "python_gil.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "python_host.hpp"

namespace py = pybind11;

namespace {

// Runs `fn` on a new thread, as a shard runs batches on its own, and waits for it.
template <class F>
void on_a_thread(F fn) {
  std::thread t{fn};
  t.join();
}

// The thread's state and a threading.local value it set in an earlier acquisition, if any.
struct seen {
  PyThreadState* state = nullptr;
  bool remembered = false;
};

template <class Gil>
seen acquire_and_look(py::object& local) {
  Gil gil;
  seen s{PyThreadState_Get(), py::hasattr(local, "mark")};
  local.attr("mark") = 1;
  return s;
}

py::object make_local() {
  dmon::python_gil gil;
  return py::module_::import("threading").attr("local")();
}

}  // namespace

TEST(python_gil, a_worker_keeps_its_thread_state_between_batches) {
  py::object local = make_local();
  seen first, second;
  on_a_thread([&] {
    first = acquire_and_look<dmon::python_gil>(local);
    second = acquire_and_look<dmon::python_gil>(local);
  });
  EXPECT_FALSE(first.remembered);
  EXPECT_EQ(first.state, second.state);
  EXPECT_TRUE(second.remembered) << "threading.local data of the thread was lost";
  dmon::python_gil gil;
  local = py::object{};
}

TEST(python_gil, a_bare_gil_scoped_acquire_would_not) {
  // The behaviour python_gil exists to avoid, so the test above cannot pass by accident.
  py::object local = make_local();
  seen second;
  on_a_thread([&] {
    acquire_and_look<py::gil_scoped_acquire>(local);
    second = acquire_and_look<py::gil_scoped_acquire>(local);
  });
  EXPECT_FALSE(second.remembered);
  dmon::python_gil gil;
  local = py::object{};
}

TEST(python_gil, nests_inside_an_acquisition_and_on_the_main_thread) {
  on_a_thread([] {
    dmon::python_gil outer;
    {
      dmon::python_gil inner;
      EXPECT_TRUE(PyGILState_Check());
    }
    EXPECT_TRUE(PyGILState_Check());
  });
  {
    dmon::python_gil main_thread;
    EXPECT_TRUE(PyGILState_Check());
  }
  EXPECT_FALSE(PyGILState_Check());
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  dmon::python_host python{{DMON_PYTHON_DIR}};
  return RUN_ALL_TESTS();
}
