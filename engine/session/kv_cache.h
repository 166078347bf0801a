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
    // Each layer's keys and values in the memory of the backend it runs on, as `type` values
    // (kv_cache_type_supported). Their widths may differ: MLA caches the latent c_kv as "k" and
    // the shared rotated key k_pe as "v".
    KvCache(std::vector<Backend*> layer_backends, int64_t n_ctx, int64_t k_width, int64_t v_width,
            TensorType type = TensorType::F16)
        : be_(std::move(layer_backends)), n_ctx_(n_ctx), type_(type) {
        for (int64_t w : {k_width, v_width})
            if (const std::string bad = kv_cache_type_error(type, w); !bad.empty())
                throw Error("KV cache: " + bad);
        layers_.reserve(be_.size());
        try {
            for (Backend* be : be_) {
                KvTensor k = be->alloc_kv(n_ctx, k_width, type);
                try {
                    layers_.push_back(KvLayer{k, be->alloc_kv(n_ctx, v_width, type)});
                } catch (...) {
                    be->release_kv(k);
                    throw;
                }
            }
        } catch (const std::exception& e) {
            // Give back what was allocated, and name the KV cache and the setting that sizes it
            // (an allocator's "out of memory allocating N bytes" says neither).
            release_all();
            const double mib =
                static_cast<double>(n_ctx) * static_cast<double>(be_.size()) *
                static_cast<double>(row_bytes(type, k_width) + row_bytes(type, v_width)) /
                (1024.0 * 1024.0);
            throw Error(
                "the KV cache for a context of " + std::to_string(n_ctx) + " tokens (" +
                std::to_string(static_cast<long long>(mib + 0.5)) + " MiB, " +
                kv_cache_type_name(type) + ") does not fit in memory (" + e.what() +
                "); use a smaller context (--ctx, or the context setting in the app)" +
                (type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16
                     ? " or a smaller cache type (--cache-type q8_0)"
                     : ""));
        }
    }
    ~KvCache() { release_all(); }
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    KvLayer& layer(int64_t l) { return layers_[l]; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_past() const { return n_past_; }  // positions filled
    void set_n_past(int64_t n) { n_past_ = n; }
    TensorType type() const { return type_; }
    // Takes src's first `rows` positions (a cache of the same model: same layers, backends,
    // widths and type) and holds just those: a sequence starting from another's prefix.
    void copy_prefix(const KvCache& src, int64_t rows) {
        if (src.be_ != be_ || src.type_ != type_ || rows < 0 || rows > src.n_past_ || rows > n_ctx_)
            throw Error("KV cache: cannot take " + std::to_string(rows) +
                        " positions from a cache of another shape or with fewer filled");
        for (size_t l = 0; l < layers_.size(); ++l)
            be_[l]->kv_copy(src.layers_[l], layers_[l], rows);
        n_past_ = rows;
    }
    // Bytes per cached position over all layers: a K row of k_width and a V row of v_width
    // (rounded up to whole blocks, for a width the type cannot hold).
    static int64_t bytes_per_token(int64_t n_layer, int64_t k_width, int64_t v_width,
                                   TensorType type) {
        const TypeInfo& ti = type_info(type);
        const auto row = [&](int64_t w) {
            return (w + ti.block_size - 1) / ti.block_size * ti.block_bytes;
        };
        return n_layer * (row(k_width) + row(v_width));
    }

private:
    void release_all() {
        for (size_t l = 0; l < layers_.size(); ++l) {
            be_[l]->release_kv(layers_[l].k);
            be_[l]->release_kv(layers_[l].v);
        }
        layers_.clear();
    }

    std::vector<Backend*> be_;  // per layer
    int64_t n_ctx_;
    TensorType type_;
    int64_t n_past_ = 0;
    std::vector<KvLayer> layers_;
};

}  // namespace gb
