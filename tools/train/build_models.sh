#!/usr/bin/env bash
# Trains Glassbox's two demo models from scratch and writes them to resources/models/ (not part
# of CI; about 85 minutes on 2 CPU cores). Steps: the Python tools (torch, transformers,
# llama-cpp-python) and glassbox-cli are installed/built if missing; the shared tokenizer is
# trained; both models train side by side, one thread each, in phases on fresh data (2,000 steps
# at learning rate 3e-3; then dense 600 steps at 1e-3; MoE 1,000 at 1e-3 and 1,000 at 5e-4:
# it learns more slowly); each checkpoint
# is converted by our own GGUF writer (glassbox-cli convert), evaluated (eval_arith.py), and
# converted again with its model card.
#
# Usage: tools/train/build_models.sh
# Environment: GB_TRAIN_DIR (default build/train), GB_EVAL_N (problems per kind, default 400),
#              GB_PYTHON.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="${GB_TRAIN_DIR:-$root/build/train}"
py="${GB_PYTHON:-$(tools/setup_python_env.sh --full | tail -1)}"
[[ -x build/app/glassbox-cli ]] || tools/build.sh
cli="$root/build/app/glassbox-cli"
train="$root/tools/train/train_arith.py"
mkdir -p "$work" resources/models

# The tokenizer first, so the two trainers do not race to write it.
"$py" -c "import sys; sys.path.insert(0, '$root/tools/train'); import train_arith; \
train_arith.build_tokenizer('$work', 1234)"

start=$(date +%s)
phase() {  # kind steps lr out [resume]: trains $work/out, from $work/resume if given
    local kind=$1 steps=$2 lr=$3 out=$4 resume=${5:-}
    GB_TRAIN_THREADS=1 "$py" "$train" "$kind" "$work/$out" --steps "$steps" --lr "$lr" \
        --eval-every 0 --final-eval 0 --tokenizer-dir "$work" ${resume:+--resume "$work/$resume"} \
        > "$work/$out.log" 2>&1
}
echo "== phase 1: both models, 2000 steps each (logs in $work)"
phase moe 2000 3e-3 moe1 & phase dense 2000 3e-3 dense1 & wait
echo "== phase 2"
phase moe 1000 1e-3 moe2 moe1 & phase dense 600 1e-3 dense dense1 & wait
echo "== phase 3 (MoE)"
phase moe 1000 5e-4 moe moe2
echo "== trained in $(( ($(date +%s) - start) / 60 )) minutes"

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
