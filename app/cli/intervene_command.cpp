// `glassbox-cli branch` and `glassbox-cli reproduce`: continue a stored reply from any of its
// tokens with another token, or run it again and say whether every token is the same
// (engine/session/interventions.h).
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/model_loading.h"
#include "engine/core/file_read.h"
#include "engine/core/file_write.h"
#include "engine/core/json.h"
#include "engine/core/utf8.h"
#include "engine/model/model.h"
#include "engine/session/backends.h"
#include "engine/session/chat_prompt.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/session/logit_lens.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/trace.h"
#include "engine/trace/trace_analysis.h"
#include "engine/trace/trace_binary.h"
#include "engine/trace/trace_compare.h"
#include "engine/trace/trace_file.h"

namespace gb::cli {

namespace {

// A trace made by another model still runs (its ids may exist in this vocabulary too), but the
// result means nothing: say so.
// Says when the trace is another model's, and runs in the trace's precision mode: a reply made
// in precise mode is continued, resampled and reproduced in precise mode.
void follow_trace(const Trace& t, Model& m) {
    const std::string name = m.config().name.empty() ? m.file().path() : m.config().name;
    if (!t.model.empty() && t.model != name)
        std::fprintf(stderr, "warning: the trace was made by \"%s\", not by this model (\"%s\")\n",
                     t.model.c_str(), name.c_str());
    if (generated_precision(t) == "precise") m.set_precise(true);
}

std::string token_shown(const std::string& text) {
    std::string out;
    for (char ch : text) out += ch == '\n' ? std::string("\\n") : std::string(1, ch);
    return "\"" + utf8::printable(out) + "\"";
}

void write_trace(const Trace& t, const std::string& file) {
    if (file.ends_with(".gbtrace")) {
        write_file_atomically(file, write_binary(t));
    } else {
        std::ostringstream json;
        write_json(t, json);
        write_file_atomically(file, json.str());
    }
}

void print_reply(const Trace& t) {
    if (!t.reasoning_text.empty())
        std::printf("<think>\n%s\n</think>\n\n", t.reasoning_text.c_str());
    std::printf("%s\n", t.answer_text.c_str());
}

}  // namespace

int branch_command(const std::vector<std::string>& argv) {
    Args args(argv,
              with_model_flags({"--at", "--token", "-n", "--max-tokens", "--trace", "--thought",
                                "--thought-file"}),
              {"--quiet", "--precise"});
    if (args.positional().size() != 1)
        throw Error(
            "branch takes one trace file: glassbox-cli branch TRACE -m MODEL --at I --token ID");
    const Trace parent = read_trace_file(args.positional()[0]);
    if (args.has("--thought") || args.has("--thought-file")) {
        // The reply's prompt again, its reasoning starting with the given thought.
        const std::string thought =
            args.has("--thought")
                ? args.str("--thought")
                : read_regular_file(args.str("--thought-file"), size_t{64} << 20, "thought file");
        const int max_new =
            static_cast<int>(args.integer(args.has("-n") ? "-n" : "--max-tokens", 512, 0, INT_MAX));
        LoadedModel m = load_model(
            args, parent.n_prompt + 4 * static_cast<int64_t>(thought.size()) + max_new + 16);
        follow_trace(parent, *m.model);
        Generator gen(*m.model, *m.tok);
        const Trace t = gen.generate(edit_thought_request(parent, thought, max_new, *m.tok));
        if (!args.has("--quiet")) print_reply(t);
        std::fprintf(stderr, "[edited thought of %d tokens; the model wrote %d more; stop: %s]\n",
                     t.interventions.back().at, t.n_gen - t.interventions.back().at,
                     stop_reason_name(t.stop_reason));
        if (args.has("--trace")) write_trace(t, args.str("--trace"));
        return 0;
    }
    if (!args.has("--at") || !args.has("--token"))
        throw Error(
            "branch needs --at I (a generated position, 0 = the first) and --token ID, or "
            "--thought TEXT");
    const int at = static_cast<int>(args.integer("--at", 0, 0, INT_MAX));
    const int32_t token = static_cast<int32_t>(args.integer("--token", 0, 0, INT_MAX));
    const int max_new =
        static_cast<int>(args.integer(args.has("-n") ? "-n" : "--max-tokens", 256, 0, INT_MAX));
    LoadedModel m = load_model(args, parent.n_prompt + at + 1 + max_new + 1);
    follow_trace(parent, *m.model);
    const GenerateRequest req = branch_request(parent, at, token, max_new, *m.tok);
    Generator gen(*m.model, *m.tok);
    const Trace t = gen.generate(req);
    if (!args.has("--quiet")) print_reply(t);
    const TokenRecord& put = t.tokens[static_cast<size_t>(t.n_prompt + at)];
    const Intervention& b = t.interventions.back();
    std::string was = "the end of the reply";
    if (b.replaced >= 0) {
        const TokenRecord& orig = parent.tokens[static_cast<size_t>(parent.n_prompt + at)];
        was = token_shown(orig.text) + " (id " + std::to_string(orig.id) + ", p " +
              std::to_string(std::exp(orig.logprob)) + ")";
    }
    std::fprintf(stderr,
                 "[branch at generated token %d: %s (id %d, p %.6f) in place of %s; %d kept, %d "
                 "new; stop: %s]\n",
                 at, token_shown(put.text).c_str(), put.id, std::exp(put.logprob), was.c_str(), at,
                 t.n_gen - at - 1, stop_reason_name(t.stop_reason));
    if (args.has("--trace")) write_trace(t, args.str("--trace"));
    return 0;
}

// --at: positions, comma-separated, or "forks": the reply's fork tokens (its highest-entropy
// reasoning tokens, engine/trace/trace_analysis.h).
std::vector<int> resample_positions(const std::string& spec, const Trace& t) {
    std::vector<int> out;
    if (spec == "forks") {
        for (const ForkToken& f : map_reasoning(t).forks) out.push_back(f.token - t.n_prompt);
        std::sort(out.begin(), out.end());
        if (out.empty()) throw Error("the reply has no fork tokens (no reasoning was scored)");
        return out;
    }
    std::stringstream ss(spec);
    for (std::string part; std::getline(ss, part, ',');) {
        char* end = nullptr;
        const long v = std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || v < 0 || v > t.n_gen)
            throw Error("--at expects generated positions 0.." + std::to_string(t.n_gen) +
                        " (comma-separated) or \"forks\", got '" + part + "'");
        out.push_back(static_cast<int>(v));
    }
    return out;
}

int resample_command(const std::vector<std::string>& argv) {
    Args args(argv,
              with_model_flags({"--at", "-k", "-n", "--max-tokens", "--temp", "--seed", "--expect",
                                "--together"}),
              {"--json", "--precise"});
    if (args.positional().size() != 1)
        throw Error(
            "resample takes one trace file: glassbox-cli resample TRACE -m MODEL --at I -k N");
    if (!args.has("--at")) throw Error("resample needs --at I (or a list, or \"forks\")");
    const Trace parent = read_trace_file(args.positional()[0]);
    const std::vector<int> positions = resample_positions(args.str("--at"), parent);
    const int k = static_cast<int>(args.integer("-k", 8, 1, 100000));
    const int max_new =
        static_cast<int>(args.integer(args.has("-n") ? "-n" : "--max-tokens", 512, 1, INT_MAX));
    const float temp = static_cast<float>(args.num("--temp", -1));
    const uint64_t seed0 = args.unsigned_integer("--seed", parent.sampling.seed + 1);
    const std::string expect = args.str("--expect");
    const bool json_out = args.has("--json");
    LoadedModel m = load_model(args, static_cast<int64_t>(parent.tokens.size()) + max_new + 1);
    follow_trace(parent, *m.model);
    double estimate = 0;
    for (int at : positions) estimate += resample_estimate_ms(parent, at, k, max_new);
    std::fprintf(stderr,
                 "[resampling %zu position(s) x %d rollouts, about %.1f s at this reply's decode "
                 "speed]\n",
                 positions.size(), k, estimate / 1000.0);
    Generator gen(*m.model, *m.tok);
    std::ostringstream js;
    json::Writer w(js);
    if (json_out) {
        w.begin_object();
        w.field("format", "glassbox-resample");
        w.field("original_answer", final_answer(parent.answer_text));
        if (!expect.empty()) w.field("expected", expect);
        w.field("rollouts_per_position", k);
        w.field("estimate_ms", estimate);
        w.key("positions").begin_array();  // each position is one resampling_json object
    }
    ResampleOptions opt;
    opt.k = k;
    opt.max_new = max_new;
    opt.temperature = temp;
    opt.first_seed = seed0;
    opt.expected = expect;
    opt.batch = static_cast<int>(args.integer("--together", 8, 1, 512));
    const auto t_all = std::chrono::steady_clock::now();
    for (size_t p = 0; p < positions.size(); ++p) {
        const ResampleResult r = resample_at(gen, parent, positions[p], opt, *m.tok);
        if (json_out) {
            w.raw(resampling_json(r));
            continue;
        }
        std::string dist;
        for (const AnswerCount& c : r.answers)
            dist += (dist.empty() ? "" : ", ") + (c.answer.empty() ? "(none)" : c.answer) + " " +
                    std::to_string(c.count) + "/" + std::to_string(k);
        const std::string token = r.at < parent.n_gen ? token_shown(r.token) : "(end)";
        std::printf("at %4d %-10s %s %3.0f%%   answers: %s   (%.1f s)\n", r.at, token.c_str(),
                    expect.empty() ? "same as the reply" : "correct", 100.0 * r.share, dist.c_str(),
                    r.ms / 1000.0);
    }
    const double all_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_all).count();
    if (json_out) {
        w.end_array();
        w.field("ms", all_ms);
        w.end_object();
        std::cout << js.str() << "\n";
    } else {
        const std::string original = final_answer(parent.answer_text);
        std::printf("original answer: %s%s; %.1f s in all (estimated %.1f s)\n",
                    original.empty() ? "(none)" : original.c_str(),
                    expect.empty() ? "" : (", expected: " + expect).c_str(), all_ms / 1000.0,
                    estimate / 1000.0);
    }
    return 0;
}

int lens_command(const std::vector<std::string>& argv) {
    Args args(argv,
              with_model_flags(
                  {"-p", "--prompt", "--system", "--pos", "--top-k", "--trace", "--at", "--span"}),
              {"--chat", "--no-thinking", "--json", "--precise"});
    // The tokens: a prompt (through the chat template with --chat), or a stored reply's.
    const bool from_trace = args.has("--trace");
    if (from_trace == (args.has("-p") || args.has("--prompt")))
        throw Error("lens reads -p TEXT (a prompt) or --trace TRACE --at I (a reply's token I)");
    Trace trace;
    if (from_trace) trace = read_trace_file(args.str("--trace"));
    LoadedModel m = load_model(args, from_trace ? static_cast<int64_t>(trace.tokens.size()) : 0);
    std::vector<int32_t> tokens;
    int pos = -1;
    if (from_trace) {
        follow_trace(trace, *m.model);
        if (!args.has("--at")) throw Error("lens --trace needs --at I (a generated position)");
        const int at = static_cast<int>(args.integer("--at", 0, 0, INT_MAX));
        if (at >= trace.n_gen)
            throw Error("--at " + std::to_string(at) + " is outside the reply's " +
                        std::to_string(trace.n_gen) + " generated tokens");
        for (const TokenRecord& r : trace.tokens) tokens.push_back(r.id);
        pos = trace.n_prompt + at - 1;  // the position whose next token is generated token at
        if (pos < 0) throw Error("the reply has no prompt token before its first token");
    } else {
        std::string text = args.has("-p") ? args.str("-p") : args.str("--prompt");
        if (args.has("--chat")) {
            std::vector<ChatMessage> messages;
            if (!args.str("--system").empty())
                messages.emplace_back("system", args.str("--system"));
            messages.emplace_back("user", text);
            ChatPromptOptions opt;
            opt.thinking = !args.has("--no-thinking");
            text =
                render_model_prompt(*m.tok, chat_format_of(m.model->file(), *m.tok), messages, opt)
                    .text;
        }
        tokens = encode_prompt(*m.tok, text);
        pos = static_cast<int>(args.integer("--pos", static_cast<long long>(tokens.size()) - 1, 0,
                                            static_cast<long long>(tokens.size()) - 1));
    }
    if (args.has("--span")) {
        // A:B, positions of the token sequence: per layer, the probability of what followed.
        const std::string spec = args.str("--span");
        const size_t colon = spec.find(':');
        char* e1 = nullptr;
        char* e2 = nullptr;
        const long a = std::strtol(spec.c_str(), &e1, 10);
        const long b =
            colon == std::string::npos ? -1 : std::strtol(spec.c_str() + colon + 1, &e2, 10);
        if (colon == std::string::npos || e1 != spec.c_str() + colon || *e2 != '\0' || a < 0 ||
            b <= a)
            throw Error("--span expects FIRST:END positions (END exclusive), got '" + spec + "'");
        const LensSpan s =
            logit_lens_span(*m.model, tokens, static_cast<int>(a), static_cast<int>(b - a));
        if (args.has("--json")) {
            std::ostringstream out;
            json::Writer w(out);
            w.begin_object();
            w.field("format", "glassbox-lens-span");
            w.field("first", s.first);
            w.key("targets").begin_array(true);
            for (int32_t t : s.targets) w.value(t);
            w.end_array();
            w.key("prob").begin_array();
            for (const auto& row : s.prob) {
                w.begin_array(true);
                for (float p : row) w.value(p);
                w.end_array();
            }
            w.end_array();
            w.end_object();
            std::cout << out.str() << "\n";
            return 0;
        }
        std::printf("probability of the token that followed, per layer (rows) and position:\n");
        std::printf("layer ");
        for (size_t i = 0; i < s.targets.size(); ++i)
            std::printf(" %-7s", token_shown(m.tok->token_text(s.targets[i])).substr(0, 7).c_str());
        std::printf("\n");
        for (size_t l = 0; l < s.prob.size(); ++l) {
            std::printf("%5zu ", l);
            for (float p : s.prob[l]) std::printf(" %7.3f", p);
            std::printf("\n");
        }
        return 0;
    }
    const int k = static_cast<int>(args.integer("--top-k", 5, 1, 100));
    const LogitLens lens = logit_lens(*m.model, *m.tok, tokens, pos, k);
    if (args.has("--json")) {
        std::ostringstream out;
        json::Writer w(out);
        w.begin_object();
        w.field("format", "glassbox-lens");
        w.field("position", lens.position);
        w.field("target", lens.target);
        w.field("target_text", lens.target_text);
        w.key("layers").begin_array();
        for (const LensLayer& L : lens.layers) {
            w.begin_object(true);
            w.field("layer", L.layer);
            w.field("target_logprob", L.target_logprob);
            w.field("target_rank", L.target_rank);
            w.field("entropy", L.entropy);
            w.key("top").begin_array();
            for (const LensPrediction& p : L.top) {
                w.begin_object(true);
                w.field("id", p.id);
                w.field("text", p.text);
                w.field("logprob", p.logprob);
                w.end_object();
            }
            w.end_array();
            w.end_object();
        }
        w.end_array();
        w.end_object();
        std::cout << out.str() << "\n";
        return 0;
    }
    std::printf("logit lens at position %d (after %s), predicting %s:\n", lens.position,
                token_shown(m.tok->token_text(tokens[static_cast<size_t>(lens.position)])).c_str(),
                token_shown(lens.target_text).c_str());
    std::printf("layer  p(target)  rank  entropy  top predictions\n");
    for (const LensLayer& L : lens.layers) {
        std::string top;
        for (const LensPrediction& p : L.top)
            top += (top.empty() ? "" : "  ") + token_shown(p.text) + " " +
                   std::to_string(static_cast<int>(std::lround(100 * std::exp(p.logprob)))) + "%";
        std::printf("%5d  %9.4f  %4d  %7.3f  %s\n", L.layer, std::exp(L.target_logprob),
                    L.target_rank, L.entropy, top.c_str());
    }
    return 0;
}

int reproduce_command(const std::vector<std::string>& argv) {
    Args args(argv, with_model_flags({"--trace"}), {"--json", "--precise"});
    if (args.positional().size() != 1)
        throw Error("reproduce takes one trace file: glassbox-cli reproduce TRACE -m MODEL");
    const Trace recorded = read_trace_file(args.positional()[0]);
    LoadedModel m = load_model(args, static_cast<int64_t>(recorded.tokens.size()) + 1);
    follow_trace(recorded, *m.model);
    const GenerateRequest req = reproduce_request(recorded, *m.tok);
    Generator gen(*m.model, *m.tok);
    const Trace again = gen.generate(req);
    const TokenDiff d = compare_generated(recorded, again);
    const bool same_backend = recorded.backend.empty() || recorded.backend == again.backend;
    auto text_at = [](const Trace& t, int i) -> std::string {
        const size_t k = static_cast<size_t>(t.n_prompt + i);
        return k < t.tokens.size() ? t.tokens[k].text : std::string();
    };
    if (args.has("--json")) {
        std::ostringstream out;
        json::Writer w(out);
        w.begin_object(true);
        w.field("identical", d.identical);
        w.field("tokens", recorded.n_gen);
        w.field("first_difference", d.first_difference);
        w.field("expected", d.expected);
        w.field("got", d.got);
        w.field("max_logprob_diff", d.max_logprob_diff);
        w.field("recorded_backend", recorded.backend);
        w.field("backend", again.backend);
        w.end_object();
        std::cout << out.str() << "\n";
    } else if (d.identical) {
        std::printf("identical: all %d generated tokens, log-probabilities within %.3g\n",
                    recorded.n_gen, d.max_logprob_diff);
    } else {
        std::printf(
            "differs at generated token %d: recorded %s (id %d), now %s (id %d); the %d "
            "tokens before it are identical\n",
            d.first_difference,
            d.expected >= 0 ? token_shown(text_at(recorded, d.first_difference)).c_str()
                            : "the end",
            d.expected,
            d.got >= 0 ? token_shown(text_at(again, d.first_difference)).c_str() : "the end", d.got,
            d.first_difference);
    }
    if (!same_backend)
        std::fprintf(stderr,
                     "[the trace was made on the %s backend and re-run on %s: tokens may differ "
                     "where two choices are within rounding]\n",
                     recorded.backend.c_str(), again.backend.c_str());
    if (args.has("--trace")) write_trace(again, args.str("--trace"));
    return d.identical ? 0 : 1;
}

int rescore_command(const std::vector<std::string>& argv) {
    Args args(argv, with_model_flags({"--trace"}), {"--precise", "--fast"});
    if (args.positional().size() != 1)
        throw Error("rescore takes one trace file: glassbox-cli rescore TRACE -m MODEL");
    if (args.has("--precise") && args.has("--fast"))
        throw Error("rescore: --precise and --fast contradict each other");
    const Trace original = read_trace_file(args.positional()[0]);
    LoadedModel m = load_model(args, static_cast<int64_t>(original.tokens.size()) + 1);
    follow_trace(original, *m.model);
    // Without a flag: the other mode than the trace's (a fast reply is rescored precisely).
    const bool precise =
        args.has("--precise") || (!args.has("--fast") && original.precision != "precise");
    m.model->set_precise(precise);
    Generator gen(*m.model, *m.tok);
    const Trace scored = gen.generate(rescore_request(original, *m.tok));
    const Trace out = rescored_trace(original, scored);
    const TraceComparison c = compare_traces(original, out);
    int top_changed = 0;
    for (int i = original.n_prompt; i < static_cast<int>(original.tokens.size()); ++i) {
        const auto& a = original.tokens[static_cast<size_t>(i)].top;
        const auto& b = out.tokens[static_cast<size_t>(i)].top;
        if (!a.empty() && !b.empty() && a[0].id != b[0].id) ++top_changed;
    }
    std::printf("rescored %d generated tokens in %s mode (the trace: %s)\n", original.n_gen,
                out.precision.c_str(),
                original.precision.empty() ? "precision not recorded" : original.precision.c_str());
    if (std::isfinite(c.logprob_rms))
        std::printf(
            "log-probability %s - %s: mean |d| %.3g, RMS %.3g, largest %.3g nats at row %d\n",
            out.precision.c_str(),
            original.precision.empty() ? "recorded" : original.precision.c_str(),
            c.logprob_mean_abs, c.logprob_rms, c.logprob_max_abs, c.logprob_max_row);
    std::printf("most likely token changed at %d of %d generated positions\n", top_changed,
                original.n_gen);
    if (!precise)
        std::fprintf(stderr,
                     "[a fast rescoring runs the tokens as one prompt, whose tiled products round "
                     "differently from decoding them one by one]\n");
    if (args.has("--trace")) write_trace(out, args.str("--trace"));
    return 0;
}

}  // namespace gb::cli
