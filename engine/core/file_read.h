// Opening and reading files that a user or a model folder names. Only regular files are read:
// open() on a FIFO blocks until a writer comes and a device can be read forever, so both are
// refused without blocking; whole-file reads have a size cap checked before allocating.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gb {

// A read-only descriptor (close-on-exec) of the regular file at path. Throws gb::Error naming
// the path and what it is instead (a directory, a named pipe, a device, a socket), or why it
// cannot be opened.
int open_regular_file(const std::string& path);

// The whole regular file at path. `what` names the file in errors ("tokenizer.json"); a file
// larger than max_bytes is refused before anything is read.
std::string read_regular_file(const std::string& path, size_t max_bytes, std::string_view what);

}  // namespace gb
