// The error type of the kernels and everything above them: every failure says what failed and
// where (file, offset, key, tensor, op). It lives in the lowest layer so that all layers share it.
#pragma once

#include <stdexcept>
#include <string>

namespace gb {

// Thrown inside the engine and kernels; caught at the boundary (CLI main, worker thread).
// Never thrown across a CUDA or thread boundary.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace gb
