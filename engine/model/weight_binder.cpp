// Weight binding with presence, type and shape checks.
#include "engine/model/weight_binder.h"

#include "kernels/error.h"

namespace gb {

namespace {

std::string dims_text(const GgufTensorInfo& t) {
    std::string s;
    for (size_t i = 0; i < t.dims.size(); ++i) s += (i ? " x " : "") + std::to_string(t.dims[i]);
    return s;
}

}  // namespace

WeightBinder::WeightBinder(const GgufFile& file, const ModelConfig& c, Backend& initial)
    : file_(file), c_(c), to_(&initial) {
    for (TensorSpec& t : tensor_table(tensor_dims(c, file))) {
        std::string name = t.gguf;
        table_.emplace(std::move(name), std::move(t));
    }
}

Weight WeightBinder::bind(const std::string& name, bool required) const {
    const auto it = table_.find(name);
    if (it == table_.end()) {
        if (!required) return Weight{};
        throw Error(file_.path() + ": tensor '" + name + "' is not in the tensor table of " +
                    arch_name(c_.arch));
    }
    const TensorSpec& t = it->second;
    if (t.n_mat > 0) return stack(name, t.n_mat, t.shape[0], t.shape[1]);
    if (t.shape.size() == 1) return bind(name, 1, t.shape[0], required && t.required);
    return bind(name, t.shape[0], t.shape[1], required && t.required);
}

Weight WeightBinder::bind(const std::string& name, int64_t rows, int64_t cols,
                          bool required) const {
    const GgufTensorInfo* t = file_.find_tensor(name);
    if (!t) {
        if (!required) return Weight{};
        throw Error(file_.path() + ": missing tensor '" + name + "' required by architecture " +
                    c_.arch_str);
    }
    const bool vec = rows == 1;
    const bool ok = vec ? (t->n_elements == cols && t->dims[0] == cols)
                        : (t->dims.size() == 2 && t->dims[0] == cols && t->dims[1] == rows);
    if (!ok) {
        const std::string dims = dims_text(*t);
        throw Error(
            file_.path() + ": tensor '" + name + "' has shape [" + dims + "], expected [" +
            (vec ? std::to_string(cols) : std::to_string(cols) + " x " + std::to_string(rows)) +
            "]");
    }
    if (!type_info(t->type).computable)
        throw Error(file_.path() + ": tensor '" + name + "' has type " +
                    std::string(type_name(t->type)) + ", which the engine cannot compute with yet");
    Weight w{t->type, file_.tensor_data(*t), vec ? 1 : rows, cols, t->name};
    return to_->upload(w);
}

Weight WeightBinder::stack(const std::string& name, int64_t n_mat, int64_t rows,
                           int64_t cols) const {
    const GgufTensorInfo* t = file_.find_tensor(name);
    if (!t)
        throw Error(file_.path() + ": missing tensor '" + name + "' required by architecture " +
                    c_.arch_str);
    if (t->dims.size() != 3 || t->dims[0] != cols || t->dims[1] != rows || t->dims[2] != n_mat) {
        const std::string dims = dims_text(*t);
        throw Error(file_.path() + ": tensor '" + name + "' has shape [" + dims + "], expected [" +
                    std::to_string(cols) + " x " + std::to_string(rows) + " x " +
                    std::to_string(n_mat) + "] (" + std::to_string(n_mat) +
                    " experts from the metadata)");
    }
    if (!type_info(t->type).computable)
        throw Error(file_.path() + ": tensor '" + name + "' has type " +
                    std::string(type_name(t->type)) + ", which the engine cannot compute with yet");
    Weight w{t->type, file_.tensor_data(*t), rows, cols, t->name, n_mat};
    return to_->upload(w);
}

MoeLayerWeights WeightBinder::moe(int64_t l) const {
    const ModelConfig& c = c_;
    const std::string p = "blk." + std::to_string(l) + ".";
    MoeLayerWeights w;
    w.gate_inp = bind(p + "ffn_gate_inp.weight");
    if (c.expert_probs_bias) {
        w.probs_bias = bind(p + "exp_probs_b.bias");
        if (w.probs_bias.type != TensorType::F32)
            throw Error(file_.path() + ": tensor '" + p + "exp_probs_b.bias' must be F32");
    }
    w.gate_exps = bind(p + "ffn_gate_exps.weight");
    w.up_exps = bind(p + "ffn_up_exps.weight");
    w.down_exps = bind(p + "ffn_down_exps.weight");
    if (c.n_expert_shared > 0) {
        w.gate_shexp = bind(p + "ffn_gate_shexp.weight");
        w.up_shexp = bind(p + "ffn_up_shexp.weight");
        w.down_shexp = bind(p + "ffn_down_shexp.weight");
    }
    return w;
}

DecoderHead WeightBinder::head(const Placement& placement) const {
    const ModelConfig& c = c_;
    DecoderHead h;
    // The embedding lookup feeds layer 0, so it lives where layer 0 runs; the output head always
    // runs on the main backend (a tied output matrix is then bound on both).
    Backend& first = placement.layer_backend(0);
    on(first);
    h.tok_embd = bind("token_embd.weight");
    on(placement.main());
    h.output_norm = bind("output_norm.weight");
    if (!c.tied_output)
        h.output = bind("output.weight");
    else
        h.output = &first == &placement.main() ? h.tok_embd : bind("token_embd.weight");
    return h;
}

DecoderFfn WeightBinder::ffn(int64_t l) const {
    const ModelConfig& c = c_;
    const std::string p = "blk." + std::to_string(l) + ".";
    DecoderFfn f;
    f.norm = bind(p + "ffn_norm.weight");
    f.moe = c.is_moe_layer(l);
    if (f.moe) {
        f.experts = moe(l);
    } else {
        f.gate = bind(p + "ffn_gate.weight");
        f.up = bind(p + "ffn_up.weight");
        f.down = bind(p + "ffn_down.weight");
    }
    return f;
}

}  // namespace gb
