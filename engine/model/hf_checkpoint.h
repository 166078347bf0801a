// Hugging Face checkpoints (config.json + safetensors [+ tokenizer.json]) opened as a GGUF view:
// the metadata keys and tensor names a GGUF converter would write, over the mapped weights, so
// that everything that reads a GgufFile (ModelConfig, the forward passes, the converter) reads
// a checkpoint the same way.
#pragma once

#include <string>

#include "engine/gguf/gguf_file.h"

namespace gb {

// True when `path` is a directory holding config.json, or a file named config.json.
bool is_hf_checkpoint(const std::string& path);

// Opens the checkpoint (a directory, or its config.json) as a GgufFile view, with the
// tokenizer.ggml.* keys and chat template from tokenizer.json / tokenizer_config.json when they
// are there (and the pre-tokenizer is one GGUF can name). Architectures:
// LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM (GGUF "llama", "qwen2", "qwen3"),
// Qwen3MoeForCausalLM ("qwen3moe"), MixtralForCausalLM ("llama" with experts),
// OlmoeForCausalLM ("olmoe"), DeepseekV2ForCausalLM and DeepseekV3ForCausalLM ("deepseek2").
//
// Most tensors point straight into the mapped safetensors; three kinds are owned copies, made
// once here (the view then holds about the model's size in RAM for them; the mapped originals
// are clean file pages the kernel can drop):
//  - q/k projections of GGUF "llama" models (Llama, Mixtral): HF keeps each head's rows in two
//    rotary halves (NEOX order), GGUF "llama" keeps rotated pairs adjacent; the rows are
//    permuted so the view is what a GGUF file holds and the forward pass needs no second mode;
//  - MoE experts: safetensors stores each expert's matrices apart, GGUF one 3-D tensor per
//    layer ([n_expert x rows x cols]); they are stacked in their own dtype;
//  - rope_freqs.weight (Llama 3 rope scaling), computed from config.json; F16/BF16 vectors
//    (norms, biases), widened to F32 as GGUF files keep them; and any tensor whose data is not
//    aligned to its element size.
// Throws gb::Error naming the file and the key or tensor at fault: unknown architecture,
// missing / mis-shaped / unexpected tensors, inconsistent expert counts.
GgufFile open_hf_checkpoint(const std::string& path);

}  // namespace gb
