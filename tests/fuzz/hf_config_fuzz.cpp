// libFuzzer harness for config.json reading: the input is parsed as JSON and mapped to the
// hyper-parameters and GGUF metadata a checkpoint converts to. Any input must either map or throw
// gb::Error; nothing else is allowed.
// fuzz-options: -max_len=8192
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/core/json.h"
#include "engine/model/hf_checkpoint_plan.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const gb::json::Value cfg =
            gb::json::parse(std::string_view(reinterpret_cast<const char*>(data), size));
        std::vector<gb::GgufKV> kv;
        (void)gb::hf::read_hparams(cfg, "config.json", kv);
    } catch (const gb::Error&) {
    }
    return 0;
}
