#!/usr/bin/env python3
"""Makes the golden data of the SentencePiece (tokenizer.ggml.model = "llama") tokenizer test.

Usage: ${GB_PYTHON:-python3} tools/gen_spm_fixtures.py

Needs `sentencepiece`, `gguf` and `llama_cpp` (llama-cpp-python). Steps:
  1. trains a small SentencePiece BPE model (byte fallback, a few user-defined symbols) on the
     committed text tests/fixtures/tokenizer/spm_train.txt, deterministically, in a temp dir;
  2. writes its pieces, scores and types as a vocabulary-only GGUF file
     tests/fixtures/tokenizer/spm_tiny.gguf (with the few llama hyper-parameters a loader wants);
  3. encodes every tests/fixtures/tokenizer/corpus.txt line (and some extra cases) with
     sentencepiece itself and with llama.cpp reading that GGUF file, and writes both into
     tests/fixtures/tokenizer/spm_tiny_expected.json. The C++ test follows llama.cpp (GGUF
     semantics); lines where the two references disagree are flagged "agree": false.
"""
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tokenizer"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_tokenizer_fixtures import read_corpus  # noqa: E402  (same corpus escapes)

USER_DEFINED = ["<think>", "</think>", "<tool_call>"]
CONTROL = ["<ctrl>", "<|im_start|>", "<|im_end|>"]

# Cases beyond corpus.txt: leading/trailing spaces, specials at the edges, the empty text,
# characters the training text never saw (byte fallback), a literal U+2581.
EXTRA = [
    "",
    " ",
    "  two leading",
    "x",
    "<think>",
    "<think>hi</think>",
    " <think> spaced </think> ",
    "a<ctrl>b <ctrl> c",
    "<s>literal bos</s> and <unk>",
    "emoji only 🦀🦀",
    "\u2581already\u2581escaped",
    "\x00nul and \x7f del",
    "tab\tnew\nline\r\n",
]


def train(tmp):
    import sentencepiece as spm
    prefix = str(Path(tmp) / "spm_tiny")
    spm.SentencePieceTrainer.train(
        input=str(FIXTURES / "spm_train.txt"), model_prefix=prefix, model_type="bpe",
        vocab_size=800, byte_fallback=True, character_coverage=0.98,
        user_defined_symbols=USER_DEFINED, control_symbols=CONTROL,
        # No normalisation and no whitespace folding: llama.cpp reading a GGUF applies neither.
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, split_digits=False, allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, minloglevel=2)
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def write_gguf(sp, path):
    import gguf
    # SentencePiece piece kinds -> GGUF token types (1 normal, 2 unknown, 3 control,
    # 4 user-defined, 5 unused, 6 byte), through the processor's queries (no protobuf needed).
    def kind(i):
        if sp.is_unknown(i):
            return 2
        if sp.is_control(i):
            return 3
        if sp.is_byte(i):
            return 6
        if sp.is_unused(i):
            return 5
        return 4 if sp.id_to_piece(i) in USER_DEFINED else 1

    n = sp.get_piece_size()
    tokens = [sp.id_to_piece(i) for i in range(n)]
    scores = [sp.get_score(i) for i in range(n)]
    types = [kind(i) for i in range(n)]

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("spm-tiny (tokenizer test fixture)")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tokens


def main():
    import llama_cpp
    corpus = read_corpus(FIXTURES / "corpus.txt")
    texts = corpus + EXTRA + ["\n".join(corpus)]
    gguf_path = FIXTURES / "spm_tiny.gguf"
    with tempfile.TemporaryDirectory() as tmp:
        sp = train(tmp)
        tokens = write_gguf(sp, gguf_path)
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)

    def cpp(text, special):
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def cpp_decode(ids):
        # llama_detokenize as a whole-sequence decode (leading space rule included).
        buf = (llama_cpp.ctypes.c_char * (16 * len(ids) + 64))()
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, len(buf), False, False)
        assert n >= 0, n
        return bytes(buf[:n]).decode("utf-8", errors="replace")

    cases, disagree = [], 0
    for text in texts:
        ref_sp = sp.encode(text)
        special, plain = cpp(text, True), cpp(text, False)
        with_bos = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        agree = ref_sp == special
        disagree += not agree
        if not agree:
            print(f"references differ on {text[:40]!r}", file=sys.stderr)
        case = {"text": text, "special": special, "plain": plain, "with_bos": with_bos,
                "agree": agree, "llama_cpp_decode": cpp_decode(special)}
        if not agree:
            case["sentencepiece"] = ref_sp
        cases.append(case)
    out = {
        "generator": "tools/gen_spm_fixtures.py: sentencepiece BPE trained on spm_train.txt, "
                     "ids from llama-cpp-python reading spm_tiny.gguf ('special'/'plain'/"
                     "'with_bos') and from sentencepiece itself ('sentencepiece')",
        "vocab_size": len(tokens),
        "disagreements": disagree,
        "cases": cases,
    }
    with open(FIXTURES / "spm_tiny_expected.json", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {disagree} where sentencepiece and llama.cpp differ; "
          f"{gguf_path.stat().st_size} bytes of GGUF", file=sys.stderr)


if __name__ == "__main__":
    main()
