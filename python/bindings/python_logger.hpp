// cairn's log lines into Python's `logging` (the `cairn` logger, through cairn._logging).
//
// Once the interpreter finalizes, Python ends any thread that asks for the GIL (by a forced
// unwind): a background save that logged then would be killed, and the process aborted. So the
// Python package, at exit, waits for the saves in flight and then calls
// stop_logging_to_python(); log lines from then on go to stderr and never touch Python.
#pragma once

#include "cairn/logger.hpp"

namespace cairn::python {

Logger python_logger();

// Waits (without the GIL) for the lines being logged to Python, and sends every later line to
// stderr. Call with the GIL held; not undone.
void stop_logging_to_python();

}  // namespace cairn::python
