// A thread ended by pthread_exit or pthread_cancel unwinds with abi::__forced_unwind (Python
// ends this way a thread that asks for the GIL while the interpreter finalizes). A catch (...)
// that does not rethrow it aborts the process ("FATAL: exception not rethrown"), so every one
// on a path that can call back into user code is preceded by CAIRN_RETHROW_FORCED_UNWIND.
#pragma once

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#define CAIRN_RETHROW_FORCED_UNWIND \
  catch (abi::__forced_unwind&) {   \
    throw;                          \
  }
#else
#define CAIRN_RETHROW_FORCED_UNWIND
#endif
