// Helpers for QtTest suites that drive a ChatController: load a model and wait for it.
#pragma once

#include <QSignalSpy>
#include <cstdint>
#include <string>

#include "app/chat_controller.h"

namespace gb::test {

// Loads `path` on one thread with an n_ctx context; true once the controller has it.
inline bool load_model_and_wait(gb::app::ChatController& c, const std::string& path,
                                int64_t n_ctx) {
    QSignalSpy changed(&c, &gb::app::ChatController::modelChanged);
    gb::app::LoadSettings s;
    s.path = path;
    s.n_ctx = n_ctx;
    s.n_threads = 1;
    c.load_model(s);
    return changed.wait(20000) && c.model_loaded();
}

}  // namespace gb::test
