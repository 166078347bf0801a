#!/usr/bin/env bash
# Trains Glassbox's two demo models from scratch and writes them to resources/models/ (not part
# of CI; about 45 minutes on 2 CPU cores). Steps: the Python tools (torch, transformers,
# llama-cpp-python) and glassbox-cli are installed/built if missing; the shared tokenizer is
# trained; both models train side by side, one thread each, 3,000 steps at learning rate 3e-3
# (warm-up, cosine to 5%) on fresh data, then the MoE model 400 more at 3e-4; each checkpoint
# is converted by our own GGUF writer (glassbox-cli convert), evaluated (eval_arith.py), and
# converted again with its model card.
#
# Usage: tools/train/build_models.sh
# Environment: GB_TRAIN_DIR (default build/train), GB_EVAL_N (problems per kind, default 400),
#              GB_STEPS (default 3000), GB_MOE_EXTRA_STEPS (default 400), GB_PYTHON,
#              GB_EVAL_ONLY=1 (skip training: evaluate the checkpoints already in
#              GB_TRAIN_DIR and write the GGUFs again).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="${GB_TRAIN_DIR:-$root/build/train}"
py="${GB_PYTHON:-$(tools/setup_python_env.sh --full | tail -1)}"
[[ -x build/app/glassbox-cli ]] || tools/build.sh
cli="$root/build/app/glassbox-cli"
train="$root/tools/train/train_arith.py"
mkdir -p "$work" resources/models

start=$(date +%s)
phase() {  # kind steps lr out [resume]: trains $work/out, from $work/resume if given
    local kind=$1 steps=$2 lr=$3 out=$4 resume=${5:-}
    GB_TRAIN_THREADS=${threads:-1} "$py" "$train" "$kind" "$work/$out" --steps "$steps" --lr "$lr" \
        --eval-every 0 --final-eval 0 --tokenizer-dir "$work" ${resume:+--resume "$work/$resume"} \
        > "$work/$out.log" 2>&1
}
if [[ "${GB_EVAL_ONLY:-0}" != 1 ]]; then
    # The tokenizer first, so the two trainers do not race to write it.
    "$py" -c "import sys; sys.path.insert(0, '$root/tools/train'); import train_arith; \
train_arith.build_tokenizer('$work', 1234)"
    steps=${GB_STEPS:-3000}
    echo "== training both models, $steps steps each (logs in $work)"
    phase moe "$steps" 3e-3 moe1 & phase dense "$steps" 3e-3 dense & wait
    # The MoE model learns more slowly: a short second phase at a tenth of the rate, on both
    # cores (the dense model has finished), settles its multiplication tables.
    echo "== MoE, ${GB_MOE_EXTRA_STEPS:-400} more steps at 3e-4"
    threads=2 phase moe "${GB_MOE_EXTRA_STEPS:-400}" 3e-4 moe moe1
    echo "== trained in $(( ($(date +%s) - start) / 60 )) minutes"
fi

for kind in moe dense; do
    name="glassbox-demo-$kind"
    out="resources/models/$name.gguf"
    "$py" tools/train/model_card.py "$kind" "$work/$kind" > "$work/$kind/card.json"
    "$cli" convert "$work/$kind" "$out" --type f32 --metadata "$work/$kind/card.json"
    echo "== evaluating $name"
    "$py" tools/train/eval_arith.py "$out" --cli "$cli" --n "${GB_EVAL_N:-400}" \
        --json "$work/$kind/eval.json"
    "$py" tools/train/eval_arith.py "$out" --cli "$cli" --n 7 --no-thinking-n 0 --sampled-n 0 \
        --llamacpp 20 --json "$work/$kind/llamacpp.json"
    "$py" tools/train/model_card.py "$kind" "$work/$kind" "$work/$kind/eval.json" \
        > "$work/$kind/card.json"
    "$cli" convert "$work/$kind" "$out" --type f32 --metadata "$work/$kind/card.json"
    cp "$work/$kind/eval.json" "resources/models/$name.eval.json"
done
