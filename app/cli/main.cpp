// glassbox-cli: inspect, run, benchmark and convert models from the command line.
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "engine/core/utf8.h"

namespace {

constexpr const char* kUsage = R"(usage: glassbox-cli COMMAND [options]

commands:
  inspect FILE|CHECKPOINT_DIR [--tensors] [--all-metadata] [--cache-type TYPE]
      architecture, parameters (active per token for MoE), experts and gating, quantisation
      mix, context length, KV bytes per token, memory needed, metadata (incl. the chat
      template) and, with --tensors, the tensor table
  run -m FILE -p TEXT [options]
      generate a reply, streamed to stdout
      -n, --max-tokens N     tokens to generate (default 1024)
      --chat                 render the prompt as one user turn with the model's chat template
      --system TEXT          system prompt for --chat
      --no-thinking          ask the template for no reasoning (Qwen3 enable_thinking=false)
      --temp X --top-k N --top-p X --min-p X --seed N
      --repeat-penalty X --repeat-last-n N --frequency-penalty X --presence-penalty X
      --top-n N              alternatives recorded per token (default 5)
      --hide-reasoning       leave the chain of thought out of the streamed text
      --trace FILE           write the trace (per token: id, text, logprob, entropy,
                             alternatives, time; experts per MoE layer) as JSON, or in the
                             compact binary form when FILE ends in .gbtrace
      --routing              print the most used experts per MoE layer, reasoning vs answer
      --router-probs         also record each token's full router distribution per layer
      --no-routing           do not record MoE routing
      --prompt-logprobs      also score the prompt tokens in the trace
      --ignore-eos           keep generating past the end-of-generation token (to -n)
      --think-budget N       after N reasoning tokens close the reasoning with the model's
                             end-of-thinking marker, so that the answer follows
      --disable-experts SPEC switch experts off (never routed to): SPEC is LAYER:E,E[;...]
                             with LAYER a layer index or * for every MoE layer, e.g. 3:5,7
      --force-experts SPEC   force experts on (always routed to), same SPEC, e.g. *:12
      -t, --threads N  -c, --ctx N  -b, --batch N
      --cache-type TYPE      what the KV cache holds: f16 (default), bf16, q8_0 (about half
                             of f16's memory) or f32 (exact, twice f16's memory)
      --precise              probabilities you can quote: activations are not rounded to
                             8 bits in any product and the KV cache is F32, so
                             log-probabilities are within about 1e-5 of an exact computation
                             (fast mode: about 0.05 on 4-bit files); decode is slower.
                             Recorded in the trace
      --backend cpu|cuda     where the model runs (default cpu; cuda when built with it)
      --cpu-layers N|auto    with --backend cuda: run the first N layers on the CPU, for a
                             model whose weights do not all fit in GPU memory (auto, the
                             default: as few as let the rest fit, none when it all fits)
  tokenize -m FILE (-p TEXT | -f PATH) [--no-special] [--add-bos] [--bench N]
      the token ids of a text, or (--bench) the best of N timed encodes in MB/s
  bench -m FILE [-t THREADS] [-p 512] [-n 128] [-r 3] [-d 0,4096,...] [--trace-cost]
        [--backend cpu|cuda] [--cpu-layers N] [--cache-type f16|bf16|q8_0|f32] [--precise]
      prompt processing (ppP) and generation (tgN) speed in tokens/s, the median of R runs
      and their range; -d: starting after that many tokens in the cache; --trace-cost (or
      --routing) compares decode with the trace off, on (top-5 logit summary, MoE routing)
      and on with full router vectors
  analyze TRACE [--json] [--bundle DIR] [--html FILE]
      the shape of a whole reply from its trace (JSON or .gbtrace): entropy and fork
      tokens of the reasoning, its steps, DeepConf confidence, the loop alarm, reasoning
      against answer, and per MoE layer the expert load, MaxVio, Gini, co-activation,
      vocabulary specialisation and expert paths (engine/trace/ANALYSIS_FORMAT.md);
      --bundle writes DIR/tokens.jsonl, expert_usage.csv, steps.csv, analysis.json for
      pandas: pd.read_json("DIR/tokens.jsonl", lines=True); --html writes the reply with its
      trace as one self-contained page that opens offline in a browser
  compare A B [--json]
      two replies (traces) aligned token by token (longest common subsequence of token
      ids): where they first diverge, log-probability and entropy differences over the
      shared tokens, and per MoE layer the difference of the expert loads
  branch TRACE -m MODEL (--at I --token ID | --thought TEXT | --thought-file F) [-n N]
         [--trace OUT] [--quiet]
      continue a reply (its trace) after its first I generated tokens with token ID at
      position I, then up to N more tokens (default 256): same prompt, settings and seed,
      the random stream continuing where the reply's did (so the original token put back
      gives the original reply); the new trace records the branch. --thought: the reply's
      prompt again with its reasoning starting with TEXT (an edited chain of thought), from
      which the model thinks on and answers
  reproduce TRACE -m MODEL [--json] [--trace OUT]
      run a reply again from its recorded prompt tokens, settings, seed and interventions
      and say whether every generated token is identical, or where the first difference is
      (exit status 1 then)
  resample TRACE -m MODEL --at I[,J..]|forks [-k 8] [-n 512] [--temp T] [--seed S]
           [--expect ANSWER] [--together 8] [--json]
      forking paths: from each position, k rollouts that keep the reply's tokens before it
      and sample afresh from there (its own seed each; temperature the reply's, or 0.8 for
      a greedy reply), with the distribution of their final answers (the last integer of
      the answer, else its text) and the share equal to the reply's (or to --expect); the
      time is estimated first; "forks" takes the reply's fork tokens; --together N
      rollouts are decoded at once (one matrix product per step for all; 1: one by one)
  lens -m MODEL (-p TEXT [--chat] [--pos I] | --trace TRACE --at I) [--top-k 5]
       [--span A:B] [--json]
      logit lens: what the model predicts for the next token after every layer (the final
      norm and output head applied to the residual stream), at the last prompt token or
      --pos, or before a reply's generated token --at; the last layer is the model's own
      distribution; --span A:B prints per layer the probability of the token that followed
      each position A..B-1
  rescore TRACE -m MODEL [--precise|--fast] [--trace OUT]
      the same reply's probabilities from the other precision mode (default: a fast reply
      precisely, a precise one fast): its tokens run again as one prompt, every position
      scored; prints how far the log-probabilities moved and how often the most likely
      token changed; OUT is the reply with the new numbers (compare it with the original:
      glassbox-cli compare TRACE OUT)
  branch, reproduce and resample run in the precision mode the trace's tokens were made in
  (a precise trace is continued precisely); --precise asks for it with any trace, and with
  lens.
  convert CHECKPOINT_DIR|IN.gguf OUT.gguf [--type auto|f32|f16|bf16|q8_0|q5_1|q5_0|q4_1|q4_0]
      a Hugging Face checkpoint (config.json + safetensors) to GGUF; auto keeps each
      tensor's dtype; vectors and MoE routers stay F32; the block types round to nearest
      as the gguf package does (rows not of whole blocks of 32 go to f16). A GGUF file in
      (with --type) is rewritten with its matrices in that type, metadata unchanged
  download REPO FILE [--revision REV] [--dir DIR] [--endpoint URL] [--token-env VAR]
  download REPO --list [--revision REV]
      one file of a Hugging Face hub repo (e.g. Qwen/Qwen3-0.6B-GGUF Qwen3-0.6B-Q8_0.gguf)
      into DIR (default $XDG_DATA_HOME/glassbox/models/REPO, else
      ~/.local/share/glassbox/models/REPO), checked against the hub's size and sha256; an
      interrupted download (Ctrl-C, a dropped connection) resumes from its FILE.part when run
      again; free disk space is checked first. --list: the repo's files with sizes, GGUF
      first. The token: the variable --token-env names, else HF_TOKEN; sent only to the
      hub's own host. --endpoint (else HF_ENDPOINT): a mirror of the hub
  paths [--models]
      where the bundled demo models are: installed beside glassbox-cli
      (PREFIX/share/glassbox/models), the source tree's resources/models, or
      $GLASSBOX_DATA_DIR/models; --models prints only that folder, e.g.
      glassbox-cli inspect "$(glassbox-cli paths --models)/glassbox-demo-moe.gguf"
)";

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (cmd == "inspect") return gb::cli::inspect_command(args);
        if (cmd == "run") return gb::cli::run_command(args);
        if (cmd == "bench") return gb::cli::bench_command(args);
        if (cmd == "tokenize") return gb::cli::tokenize_command(args);
        if (cmd == "convert") return gb::cli::convert_command(args);
        if (cmd == "analyze") return gb::cli::analyze_command(args);
        if (cmd == "compare") return gb::cli::compare_command(args);
        if (cmd == "branch") return gb::cli::branch_command(args);
        if (cmd == "reproduce") return gb::cli::reproduce_command(args);
        if (cmd == "rescore") return gb::cli::rescore_command(args);
        if (cmd == "resample") return gb::cli::resample_command(args);
        if (cmd == "lens") return gb::cli::lens_command(args);
        if (cmd == "download") return gb::cli::download_command(args);
        if (cmd == "paths") return gb::cli::paths_command(args);
        std::fprintf(stderr, "glassbox-cli: unknown command '%s'\n\n%s",
                     gb::utf8::printable(cmd).c_str(), kUsage);
        return 2;
    } catch (const std::bad_alloc&) {
        // A bare "std::bad_alloc" names nothing: say what ran out and what to change.
        std::fprintf(stderr,
                     "glassbox-cli %s: error: out of memory: the model, its KV cache or an input "
                     "needs more memory than this machine can give; try a smaller context "
                     "(-c/--ctx), a smaller model or a smaller input\n",
                     gb::utf8::printable(cmd).c_str());
        return 1;
    } catch (const std::exception& e) {
        // Errors quote names and values from files: never let them drive the terminal.
        std::fprintf(stderr, "glassbox-cli %s: error: %s\n", gb::utf8::printable(cmd).c_str(),
                     gb::utf8::printable(e.what(), true).c_str());
        return 1;
    }
}
