// libFuzzer harness for what servers send besides the reply stream: routed-expert arrays (a
// .npy file, the same in base64, raw int32 shaped by the first bytes) matched to a reply, the
// Prometheus text of /metrics read into health figures, llama-server's /slots. Any input must
// give a result or a gb::Error, never a crash or an allocation beyond the data's size.
// fuzz-options: -max_len=8192
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/remote/routed_experts.h"
#include "app/remote/server_health.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    using namespace gb::remote;
    const std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
    std::vector<gb::TokenRecord> reply(1 + data[1] % 16);
    try {
        RoutedExperts re;
        switch (data[0] % 6) {
            case 0: re = decode_npy(body); break;
            case 1: re = decode_npy(base64_decode(body)); break;
            case 2:
                re = decode_raw_int32(body, 1 + data[1] % 32, data[2] % 8, data[2] / 8 % 8);
                break;
            case 3: {
                const auto samples = parse_prometheus(body);
                for (ServerKind k : {ServerKind::Vllm, ServerKind::Sglang, ServerKind::LlamaServer,
                                     ServerKind::Generic})
                    (void)health_from_metrics(k, samples, data[2] & 1 ? "m" : "");
                break;
            }
            case 4: {
                ServerHealth h;
                health_from_slots(body, h);
                break;
            }
            default: {
                RoutedExpertsPayload p;
                p.format = RoutedExpertsPayload::Format::RawInt32;
                p.base64 = std::string(body);
                re = decode_payload(p, static_cast<int64_t>(reply.size()), data[1] % 64,
                                    data[2] % 8);
            }
        }
        const RoutingMatch m = match_routing(re, reply);
        volatile int n = m.tokens + m.n_expert;
        (void)n;
    } catch (const gb::Error&) {
    }
    return 0;
}
