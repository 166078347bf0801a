#!/usr/bin/env bash
# Trains Glassbox's two demo models from scratch and writes them to resources/models/ (not part
# of CI: about 40 minutes on 2 CPU cores). Steps: the Python tools (torch, transformers,
# llama-cpp-python) and glassbox-cli are installed/built if missing; the shared tokenizer and
# both models are trained (train_arith.py); each checkpoint is converted by our own GGUF writer
# (glassbox-cli convert), evaluated (eval_arith.py), and converted again with its model card.
#
# Usage: tools/train/build_models.sh [moe|dense ...]     (default: both)
# Environment: GB_TRAIN_DIR (default build/train), GB_MOE_STEPS, GB_DENSE_STEPS,
#              GB_EVAL_N (problems per kind, default 1000), GB_PYTHON.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="${GB_TRAIN_DIR:-$root/build/train}"
kinds=("$@")
((${#kinds[@]})) || kinds=(moe dense)
py="${GB_PYTHON:-$(tools/setup_python_env.sh --full | tail -1)}"
[[ -x build/app/glassbox-cli ]] || tools/build.sh
cli="$root/build/app/glassbox-cli"
mkdir -p "$work" resources/models

for kind in "${kinds[@]}"; do
    case "$kind" in
        moe) steps="${GB_MOE_STEPS:-1500}" ;;
        dense) steps="${GB_DENSE_STEPS:-1500}" ;;
        *) echo "unknown model kind '$kind' (moe or dense)" >&2; exit 2 ;;
    esac
    name="glassbox-demo-$kind"
    out="resources/models/$name.gguf"
    echo "== training $name ($steps steps)"
    "$py" tools/train/train_arith.py "$kind" "$work/$kind" --steps "$steps" \
        --tokenizer-dir "$work" --eval-every 0
    "$py" tools/train/model_card.py "$kind" "$work/$kind" > "$work/$kind/card.json"
    "$cli" convert "$work/$kind" "$out" --type f32 --metadata "$work/$kind/card.json"
    echo "== evaluating $name"
    "$py" tools/train/eval_arith.py "$out" --cli "$cli" --n "${GB_EVAL_N:-1000}" \
        --llamacpp 20 --json "$work/$kind/eval.json"
    "$py" tools/train/model_card.py "$kind" "$work/$kind" "$work/$kind/eval.json" \
        > "$work/$kind/card.json"
    "$cli" convert "$work/$kind" "$out" --type f32 --metadata "$work/$kind/card.json"
    cp "$work/$kind/eval.json" "resources/models/$name.eval.json"
done
