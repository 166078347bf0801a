// The generator's reasoning/answer split on a tiny model: phases of generated tokens and the
// trace's reasoning and answer texts, with and without a prompt that opened the reasoning.
#include <gtest/gtest.h>

#include "engine/model/model.h"
#include "engine/session/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/test_support.h"

namespace gb {
namespace {

struct Reply {
    std::vector<Phase> phases;
    std::string text;  // the generated tokens' bytes, end-of-generation tokens left out
    Trace trace;
};

Reply generate(bool starts_in_reasoning) {
    cpu::CpuBackend be{2};
    RunSettings rs;
    rs.kv_type = TensorType::F32;  // the references compute in float32
    rs.n_ctx = 64;
    rs.n_threads = 2;
    auto model = Model::load(test::fixture("models/tiny_qwen3.gguf"), be, rs);
    Tokenizer tok = Tokenizer::from_gguf(model->file());
    const json::Value ref = test::load_json(test::fixture("models/tiny_qwen3.json"));
    GenerateRequest req;
    req.prompt = test::json_ints(ref.at("prompt_ids"));
    req.max_tokens = 16;
    req.sampling.temperature = 0;
    req.stop_at_eog = false;
    req.starts_in_reasoning = starts_in_reasoning;
    Generator gen(*model, tok);
    Reply r;
    std::vector<Phase> streamed;
    r.trace = gen.generate(req, [&](const TokenRecord* rec, const std::string&) {
        if (rec) streamed.push_back(rec->phase);
        return true;
    });
    for (const TokenRecord& t : r.trace.tokens) {
        if (t.phase == Phase::Prompt) continue;
        r.phases.push_back(t.phase);
        if (!tok.is_eog(t.id) && !tok.is_control(t.id)) r.text += t.text;
    }
    EXPECT_EQ(streamed, r.phases) << "the callback sees each token's final phase";
    return r;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") + 1 - b);
}

TEST(GeneratorReasoning, PlainReplyIsAllAnswer) {
    const Reply r = generate(false);
    ASSERT_EQ(r.phases.size(), 16u);
    // The tiny model's greedy reply has no tag in it (else this test's expectation is wrong).
    ASSERT_EQ(r.text.find('<'), std::string::npos) << r.text;
    EXPECT_EQ(r.phases, std::vector<Phase>(16, Phase::Answer));
    EXPECT_EQ(r.trace.answer_text, trim(r.text));
    EXPECT_EQ(r.trace.reasoning_text, "");
    EXPECT_TRUE(r.trace.reasoning_complete);
}

TEST(GeneratorReasoning, PromptOpenedReasoningCutOffByMaxTokens) {
    const Reply r = generate(true);
    ASSERT_EQ(r.phases.size(), 16u);
    ASSERT_EQ(r.text.find('<'), std::string::npos) << r.text;
    EXPECT_EQ(r.phases, std::vector<Phase>(16, Phase::Think));
    EXPECT_EQ(r.trace.reasoning_text, trim(r.text));
    EXPECT_EQ(r.trace.answer_text, "");
    EXPECT_FALSE(r.trace.reasoning_complete);
    EXPECT_EQ(r.trace.stop_reason, gb::StopReason::MaxTokens);
}

}  // namespace
}  // namespace gb
