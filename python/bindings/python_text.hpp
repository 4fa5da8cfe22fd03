// Text from C++ to Python. C++ strings may hold any bytes (a header read from a hostile file, a
// message quoting one, a path); a Python str holds valid Unicode only, and pybind11's own
// conversion raises UnicodeDecodeError in place of what was being said.
#pragma once

#include <pybind11/pybind11.h>

#include <filesystem>
#include <string_view>

namespace cairn::python {

// For messages (errors, log lines): bytes that are not UTF-8 become \xNN escapes, so a message
// is never lost for quoting them.
pybind11::str message_text(std::string_view message);

// For data read from the file `source` (keys, string values): text that is not UTF-8 raises
// CorruptDataError naming `source`, `what` the text was ("a key") and the text, escaped.
pybind11::str file_text(std::string_view text, const std::filesystem::path& source,
                        std::string_view what);

// For paths: as os.fsdecode gives them, bytes that are not in the filesystem encoding surviving
// as surrogates (os.fsencode gives the bytes back).
pybind11::str path_text(const std::filesystem::path& path);

}  // namespace cairn::python
