// Loading the model a glassbox-cli command runs on, from the flags they share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "engine/model/model.h"
#include "engine/session/backends.h"
#include "engine/tokenizer/tokenizer.h"

namespace gb::cli {

// -m/--model, -t/--threads, -c/--ctx, -b/--batch, --backend, --cpu-layers, --cache-type.
extern const std::vector<std::string> kModelFlags;

struct LoadedModel {
    Backends be;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
};

// The model the flags name, its context at least min_ctx when -c is not given (4096 otherwise).
// Says on stderr how many layers --cpu-layers auto put on the CPU. gb::Error without -m.
LoadedModel load_model(const Args& args, int64_t min_ctx = 0);

// kModelFlags followed by a command's own flags.
std::vector<std::string> with_model_flags(const std::vector<std::string>& own);

}  // namespace gb::cli
