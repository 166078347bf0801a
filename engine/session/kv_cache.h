// The per-layer key/value cache of one sequence, in backend memory.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/error.h"

namespace gb {

class KvCache {
public:
    // Each layer's keys and values in the memory of the backend it runs on. Their widths may
    // differ: MLA caches the latent c_kv as "k" and the shared rotated key k_pe as "v".
    KvCache(std::vector<Backend*> layer_backends, int64_t n_ctx, int64_t k_width, int64_t v_width)
        : be_(std::move(layer_backends)), n_ctx_(n_ctx) {
        layers_.reserve(be_.size());
        try {
            for (Backend* be : be_) {
                Act k = be->alloc(n_ctx, k_width);
                try {
                    layers_.push_back(KvLayer{k, be->alloc(n_ctx, v_width)});
                } catch (...) {
                    be->release(k);
                    throw;
                }
            }
        } catch (const std::exception& e) {
            // Give back what was allocated, and name the KV cache and the setting that sizes it
            // (an allocator's "out of memory allocating N bytes" says neither).
            for (size_t l = 0; l < layers_.size(); ++l) {
                be_[l]->release(layers_[l].k);
                be_[l]->release(layers_[l].v);
            }
            const double mib = static_cast<double>(n_ctx) * static_cast<double>(be_.size()) *
                               static_cast<double>(k_width + v_width) * sizeof(float) /
                               (1024.0 * 1024.0);
            throw Error("the KV cache for a context of " + std::to_string(n_ctx) + " tokens (" +
                        std::to_string(static_cast<long long>(mib + 0.5)) +
                        " MiB) does not fit in memory (" + e.what() +
                        "); use a smaller context (--ctx, or the context setting in the app)");
        }
    }
    ~KvCache() {
        for (size_t l = 0; l < layers_.size(); ++l) {
            be_[l]->release(layers_[l].k);
            be_[l]->release(layers_[l].v);
        }
    }
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    KvLayer& layer(int64_t l) { return layers_[l]; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_past() const { return n_past_; }  // positions filled
    void set_n_past(int64_t n) { n_past_ = n; }
    static int64_t bytes_per_token(int64_t n_layer, int64_t kv_width) {
        return 2 * n_layer * kv_width * static_cast<int64_t>(sizeof(float));
    }

private:
    std::vector<Backend*> be_;  // per layer
    int64_t n_ctx_;
    int64_t n_past_ = 0;
    std::vector<KvLayer> layers_;
};

}  // namespace gb
