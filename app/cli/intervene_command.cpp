// `glassbox-cli branch` and `glassbox-cli reproduce`: continue a stored reply from any of its
// tokens with another token, or run it again and say whether every token is the same
// (engine/session/interventions.h).
#include <climits>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/core/file_write.h"
#include "engine/core/json.h"
#include "engine/core/utf8.h"
#include "engine/model/model.h"
#include "engine/session/backends.h"
#include "engine/session/generator.h"
#include "engine/session/interventions.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/trace/trace.h"
#include "engine/trace/trace_binary.h"
#include "engine/trace/trace_file.h"

namespace gb::cli {

namespace {

const std::vector<std::string> kModelFlags = {
    "-m", "--model", "-t",        "--threads",    "-c",          "--ctx",
    "-b", "--batch", "--backend", "--cpu-layers", "--cache-type"};

struct LoadedModel {
    Backends be;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
};

LoadedModel load_model(const Args& args, int64_t min_ctx) {
    const std::string path = args.has("-m") ? args.str("-m") : args.str("--model");
    if (path.empty()) throw Error("a model is needed: -m FILE (the one that made the trace)");
    RunSettings rs;
    rs.n_threads =
        resolve_threads(args.integer(args.has("-t") ? "-t" : "--threads", 0, LLONG_MIN, LLONG_MAX));
    rs.n_ctx = args.integer(args.has("-c") ? "-c" : "--ctx", std::max<int64_t>(4096, min_ctx), 0,
                            LLONG_MAX);
    rs.n_batch = args.integer(args.has("-b") ? "-b" : "--batch", 512, 1, LLONG_MAX);
    rs.n_cpu_layers = cpu_layers_arg(args.str("--cpu-layers", ""));
    rs.kv_type = cache_type_arg(args.str("--cache-type", ""));
    LoadedModel m;
    m.be = make_backends(args.str("--backend", "cpu"), rs.n_threads, rs.n_cpu_layers);
    m.model = Model::load(path, *m.be.main, rs, m.be.host.get());
    m.tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(m.model->file()));
    return m;
}

// A trace made by another model still runs (its ids may exist in this vocabulary too), but the
// result means nothing: say so.
void warn_other_model(const Trace& t, const Model& m) {
    const std::string name = m.config().name.empty() ? m.file().path() : m.config().name;
    if (!t.model.empty() && t.model != name)
        std::fprintf(stderr, "warning: the trace was made by \"%s\", not by this model (\"%s\")\n",
                     t.model.c_str(), name.c_str());
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
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
    Args args(argv, with(kModelFlags, {"--at", "--token", "-n", "--max-tokens", "--trace"}),
              {"--quiet"});
    if (args.positional().size() != 1)
        throw Error(
            "branch takes one trace file: glassbox-cli branch TRACE -m MODEL --at I --token ID");
    if (!args.has("--at") || !args.has("--token"))
        throw Error("branch needs --at I (a generated position, 0 = the first) and --token ID");
    const Trace parent = read_trace_file(args.positional()[0]);
    const int at = static_cast<int>(args.integer("--at", 0, 0, INT_MAX));
    const int32_t token = static_cast<int32_t>(args.integer("--token", 0, 0, INT_MAX));
    const int max_new =
        static_cast<int>(args.integer(args.has("-n") ? "-n" : "--max-tokens", 256, 0, INT_MAX));
    LoadedModel m = load_model(args, parent.n_prompt + at + 1 + max_new + 1);
    warn_other_model(parent, *m.model);
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

int reproduce_command(const std::vector<std::string>& argv) {
    Args args(argv, with(kModelFlags, {"--trace"}), {"--json"});
    if (args.positional().size() != 1)
        throw Error("reproduce takes one trace file: glassbox-cli reproduce TRACE -m MODEL");
    const Trace recorded = read_trace_file(args.positional()[0]);
    LoadedModel m = load_model(args, static_cast<int64_t>(recorded.tokens.size()) + 1);
    warn_other_model(recorded, *m.model);
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

}  // namespace gb::cli
