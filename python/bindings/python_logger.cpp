#include "python_logger.hpp"

#include <pybind11/pybind11.h>

#include <condition_variable>
#include <mutex>
#include <string>

#include "python_text.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

// Whether log lines may still go to Python, and how many are on their way there: closing waits
// for those, so that no thread is asking for the GIL when the interpreter starts to finalize.
class PythonGate {
 public:
  bool enter() {
    std::lock_guard lock(mutex_);
    if (closed_ || interpreter_finalizing()) return false;
    ++inside_;
    return true;
  }
  void leave() {
    std::lock_guard lock(mutex_);
    if (--inside_ == 0) idle_.notify_all();
  }
  void close() {
    std::unique_lock lock(mutex_);
    closed_ = true;
    idle_.wait(lock, [this] { return inside_ == 0; });
  }

 private:
  // Also for an exit that did not run the package's exit hook.
  static bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing() != 0;
#else
    return _Py_IsFinalizing() != 0;
#endif
  }

  std::mutex mutex_;
  std::condition_variable idle_;
  int inside_ = 0;
  bool closed_ = false;
};

PythonGate& python_gate() {
  static auto* gate = new PythonGate();  // never destroyed: threads may log during exit
  return *gate;
}

// Running Python code runs pending signal handlers too: a Ctrl-C that turns up as
// KeyboardInterrupt inside the logger (whose errors the Checkpointer ignores) is signalled
// again, so that Python raises it as soon as the save returns.
void log_to_python(LogLevel level, std::string_view message) {
  py::gil_scoped_acquire locked;
  try {
    py::module_::import("cairn._logging")
        .attr("log")(level == LogLevel::Warning ? "warning" : "info", message_text(message));
  } catch (py::error_already_set& error) {
    if (error.matches(PyExc_KeyboardInterrupt)) PyErr_SetInterrupt();
    throw;
  }
}

struct LeaveGate {
  ~LeaveGate() { python_gate().leave(); }
};

}  // namespace

Logger python_logger() {
  return [](LogLevel level, std::string_view message) {
    if (!python_gate().enter()) {
      stderr_logger()(level, message);
      return;
    }
    LeaveGate leave;
    log_to_python(level, message);
  };
}

void stop_logging_to_python() {
  py::gil_scoped_release unlocked;  // the lines being logged need it
  python_gate().close();
}

}  // namespace cairn::python
