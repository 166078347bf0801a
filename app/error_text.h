// What an exception says, for the window. A bare "std::bad_alloc" names nothing: it becomes what
// ran out and what the user can change.
#pragma once

#include <QString>
#include <exception>
#include <new>

namespace gb::app {

inline QString error_text(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e))
        return QStringLiteral(
            "Out of memory: the model, its context (KV cache) or this conversation needs more "
            "memory than the machine can give. Lower the context size or max tokens, or load a "
            "smaller model.");
    return QString::fromUtf8(e.what());
}

}  // namespace gb::app
