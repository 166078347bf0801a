// Writing a whole file or nothing: the bytes go to PATH.part, which is then renamed over PATH,
// so a full disk or a crash never leaves half a file behind.
#pragma once

#include <string>
#include <string_view>

namespace gb {

// gb::Error naming the path and the reason.
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace gb
