#!/usr/bin/env python3
"""Makes the golden data of the tokenizer tests from independent references.

Usage: ${GB_PYTHON:-python3} tools/gen_tokenizer_fixtures.py [--only NAME] [--out DIR]
       ${GB_PYTHON:-python3} tools/gen_tokenizer_fixtures.py --unicode-table

Needs the `gguf` and `tokenizers` packages; `llama_cpp` (llama-cpp-python) is used as a second
reference when it is installed. Writes into tests/fixtures/tokenizer/:
  NAME_expected.json        ids of every corpus.txt line (and of the whole corpus as one text)
                            for each real GGUF vocabulary in VOCABS (SmolLM2, Qwen2.5-Coder,
                            DeepSeek-R1-Distill-Qwen), with and without special-token parsing,
                            from Hugging Face `tokenizers` (the model's own tokenizer.json, or for
                            SmolLM2 a BPE built from the GGUF vocab/merges)
  pretokenizer_splits.json  pieces of tricky strings under each pre-tokenizer, from the
                            `tokenizers` Split pre-tokenizer (regexes applied in sequence)

--unicode-table writes engine/tokenizer/unicode_additions.inc instead: the code points that
`tokenizers` (Oniguruma, a recent Unicode) puts in \p{L} \p{N} \p{P} \p{S} \p{M} but this
Python's unicodedata (an older Unicode, like the PCRE2 of most distributions) leaves unassigned,
so that the C++ pre-tokenizer classifies newly encoded characters as the reference does.

corpus.txt holds one case per line; escapes \\n \\t \\r \\\\ and \\uXXXX let a case hold
characters a line cannot, and \\xNN a raw byte (invalid UTF-8; the reference tokenizes it
as Python decodes it with errors='replace').
"""
import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tokenizer"
MODELS = Path(os.environ.get("GLASSBOX_MODELS", Path.home() / ".cache/glassbox/models"))

# Real vocabularies (from tools/fetch_models.sh): output name -> (GGUF, tokenizer.json dir or None).
VOCABS = {
    "smollm2": ("SmolLM2-135M-Instruct.Q4_1.gguf", None),
    "qwen2.5_coder": ("Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", "qwen-2.5"),
    "r1_distill_qwen": ("DeepSeek-R1-Distill-Qwen-7B.part0000.gguf", "deepseek-r1-distill-qwen-7b"),
}

# Split regexes of each tokenizer.ggml.pre value, as the models' tokenizer.json files give them
# (Oniguruma syntax, applied one after another, matches and the text between them both kept).
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK_LLM_LETTERS = (
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293"
    "\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c"
    "\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5"
    "\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59"
    "\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc"
    "\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107"
    "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee"
    "\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e"
    "\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f"
    "\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2"
    "\U000118a0-\U000118df\U0001e900-\U0001e943]+")
DEEPSEEK_LLM = [
    "[\r\n]",
    DEEPSEEK_LLM_LETTERS,
    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
    "\\s+$",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
    "\\p{N}+",
]
DEEPSEEK_V3 = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
    r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
]
PRE_PATTERNS = {
    "gpt2": [GPT2],
    "olmo": [GPT2],  # OLMo / OLMoE tokenizer.json: ByteLevel with use_regex
    "smollm": [r"\p{N}", GPT2],
    "llama-bpe": [LLAMA3],
    "qwen2": [QWEN2],
    "deepseek-r1-qwen": [QWEN2],
    "deepseek-llm": DEEPSEEK_LLM,
    "deepseek-v3": DEEPSEEK_V3,
}

# Strings that stress the split rules: contractions in any case, digit runs, whitespace runs
# before words and at the end, CRLF, CJK / kana / hangul, combining marks, emoji, fullwidth.
SPLIT_INPUTS = [
    "Hello world",
    "I'm here, you're there; it's 'S and I'LL 'Ve 'ſ 'K",
    "don't can't won't y'all rock'n'roll",
    "1 12 123 1234 12345 1234567 3.14159 -42 1,000,000",
    "a  b   c    d",
    "trailing   ",
    "   leading",
    "line1\nline2\r\nline3\n\n\nline4",
    "  \n\n  indented\n\t\ttab",
    "!!!\n\n...\r\n??? x",
    "def f(x):\n    return x**2 # hi",
    "$var #define foo.bar a->b x+=1 @user",
    "你好世界，这是测试。中文123",
    "日本語のテキスト、カタカナとひらがな",
    "한국어 텍스트 123 가나다",
    "café naïve e\u0301 Z\u0324\u0354\u0367a\u0308",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467 \U0001F44D\U0001F3FD emoji\U0001F600!",
    "ＡＢＣ！ｘｙｚ\u3000全角　テスト",
    "Привет, мир! Γειά σου Κόσμε",
    "مرحبا بالعالم 123",
    "a\u00a0b\u2009c\u3000d\u200be",
    "<|im_start|>user<|im_end|>",
    "ǅungla ǈ ﬁne Ⅻ ½",
    "xyz\u0301\u0301 \u0301start",
    "mongolian\u180evowel sep\u180e x \u180e\u180e",
    "new in Unicode 16: \U00011380\U00011381 \U00016D70\U00016D71 \U0001CC00 end",
]


def unescape_bytes(line):
    """One corpus line as bytes: \\xNN is a raw byte (so a case can hold invalid UTF-8)."""
    out, i = bytearray(), 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = line[i + 1] if i + 1 < len(line) else ""
        if nxt in "ntr\\":
            out += {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\"}[nxt]
            i += 2
        elif nxt == "u":
            out += chr(int(line[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        elif nxt == "x":
            out.append(int(line[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError(f"corpus: unknown escape \\{nxt} in {line!r}")
    return bytes(out)


def unescape(line):
    """One corpus line as text; invalid UTF-8 from \\xNN escapes becomes U+FFFD, as the C++
    tokenizer reads it (each maximal invalid subsequence is one U+FFFD, as Python decodes)."""
    return unescape_bytes(line).decode("utf-8", errors="replace")


def read_corpus_bytes(path):
    with open(path, encoding="utf-8") as f:
        return [unescape_bytes(l.rstrip("\n")) for l in f]


def read_corpus(path):
    with open(path, encoding="utf-8") as f:
        return [unescape(l.rstrip("\n")) for l in f]


def case_text(raw):
    """JSON fields that carry one case's bytes: "text", or "text_hex" when not valid UTF-8."""
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text_hex": raw.hex()}


def gguf_metadata_only(path, out_path):
    """Writes a copy of a GGUF file's header and metadata with no tensors, so that readers which
    insist on the tensor data (gguf's GGUFReader, llama.cpp) can read the vocabulary of a file
    that is cut off after its header (the first part of a split download)."""
    import struct
    with open(path, "rb") as f:
        head = f.read(24)
        magic, version, _n_tensors, n_kv = struct.unpack("<4sIQQ", head)
        assert magic == b"GGUF" and version in (2, 3), (path, magic, version)
        # Scalar sizes by GGUF type id; 8 = string, 9 = array.
        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

        def skip_value(t):
            if t == 8:
                (n,) = struct.unpack("<Q", f.read(8))
                f.seek(n, 1)
            elif t == 9:
                et, n = struct.unpack("<IQ", f.read(12))
                if et in sizes:
                    f.seek(sizes[et] * n, 1)
                else:
                    for _ in range(n):
                        skip_value(et)
            else:
                f.seek(sizes[t], 1)

        for _ in range(n_kv):
            skip_value(8)  # the key
            (t,) = struct.unpack("<I", f.read(4))
            skip_value(t)
        end = f.tell()
        f.seek(24)
        body = f.read(end - 24)
    with open(out_path, "wb") as f:
        f.write(struct.pack("<4sIQQ", b"GGUF", version, 0, n_kv) + body)
    return out_path


def gguf_tokenizer_data(path):
    from gguf import GGUFReader
    r = GGUFReader(str(path))

    def field(key):
        f = r.fields[key]
        return f.contents() if hasattr(f, "contents") else [bytes(f.parts[i]).decode() for i in f.data]

    return {
        "model": field("tokenizer.ggml.model"),
        "pre": field("tokenizer.ggml.pre"),
        "tokens": field("tokenizer.ggml.tokens"),
        "types": field("tokenizer.ggml.token_type"),
        "merges": field("tokenizer.ggml.merges"),
    }


def hf_smollm2(data, with_specials):
    """SmolLM2's tokenizer as its tokenizer.json defines it: BPE over GPT-2 byte symbols, digits
    split one by one, then the GPT-2 byte-level regex; control tokens are added special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    vocab = {t: i for i, t in enumerate(data["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in data["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    if with_specials:
        specials = [t for t, ty in zip(data["tokens"], data["types"]) if ty == 3]
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def llama_cpp_tokenizer(model_path):
    try:
        import llama_cpp
    except ImportError:
        print("llama_cpp not installed: second reference skipped", file=sys.stderr)
        return None
    llm = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    return lambda raw, special: llm.tokenize(raw, add_bos=False, special=special)


def hf_from_file(tokenizer_json, with_specials):
    """The model's own tokenizer.json. Without specials, special added tokens are encoded as
    plain text (user-defined ones such as <think> still match), as parse_special=false does."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.encode_special_tokens = not with_specials
    return tok


def make_expected(name, model_path, corpus, tokenizer_json=None):
    """Ids of every corpus case (and of the whole corpus as one text) from Hugging Face
    `tokenizers`: the model's own tokenizer.json when given, else a BPE built from the GGUF
    vocabulary (SmolLM2, whose tokenizer.json is not at hand). llama.cpp on the same GGUF is a
    second reference; where it disagrees the case records its ids and whether NFC normalisation
    (which tokenizer.json asks for and llama.cpp does not do) changes the text."""
    import tempfile
    import unicodedata
    with tempfile.TemporaryDirectory() as tmp:
        meta = gguf_metadata_only(model_path, Path(tmp) / "meta.gguf")
        data = gguf_tokenizer_data(meta)
        second = llama_cpp_tokenizer(meta)
        if tokenizer_json:
            refs = {"special": hf_from_file(tokenizer_json, True),
                    "plain": hf_from_file(tokenizer_json, False)}
        else:
            assert data["model"] == "gpt2" and data["pre"] == "smollm", (data["model"], data["pre"])
            refs = {"special": hf_smollm2(data, True), "plain": hf_smollm2(data, False)}
        raws = corpus + [b"\n".join(corpus)]
        cases, disagreements, unexplained = [], 0, 0
        for raw in raws:
            text = raw.decode("utf-8", errors="replace")
            case = case_text(raw)
            for key, hf in refs.items():
                ids = hf.encode(text, add_special_tokens=False).ids
                case[key] = ids
                if second is None:
                    continue
                # llama.cpp refuses invalid UTF-8 outright; it gets the replaced text.
                other = second(text.encode("utf-8"), key == "special")
                if other != ids:
                    disagreements += 1
                    nfc = unicodedata.normalize("NFC", text) != text
                    case[f"llama_cpp_{key}"] = other
                    case["nfc_changes_text"] = nfc
                    if not nfc:
                        unexplained += 1
                        print(f"{name}: llama.cpp disagrees ({key}) on {text[:40]!r}:\n  hf  {ids}"
                              f"\n  cpp {other}", file=sys.stderr)
            cases.append(case)
    source = f"{tokenizer_json.parent.name}/tokenizer.json" if tokenizer_json else \
        "a tokenizers BPE built from the GGUF vocabulary/merges"
    out = {
        "generator": "tools/gen_tokenizer_fixtures.py: HF tokenizers with " + source
                     + (", checked against llama-cpp-python on the GGUF" if second else ""),
        "model": model_path.name,
        "pre": data["pre"],
    }
    if tokenizer_json:
        out.update(hf_conventions(tokenizer_json))
    return out | {
        "llama_cpp_disagreements": disagreements if second else None,
        "cases": cases,
    }, unexplained


def hf_conventions(tokenizer_json):
    """What the HF checkpoint says about BOS/EOS and its added tokens, for the GGUF to match."""
    cfg = json.loads((tokenizer_json.parent / "tokenizer_config.json").read_text(encoding="utf-8"))
    tj = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    ids = {a["content"]: a["id"] for a in tj["added_tokens"]}

    def token(key):
        t = cfg.get(key)
        t = t.get("content") if isinstance(t, dict) else t
        return ids.get(t) if t is not None else None

    return {
        "reference_add_bos": bool(cfg.get("add_bos_token", False)) and token("bos_token") is not None,
        "reference_bos": token("bos_token"),
        "reference_eos": token("eos_token"),
        "added_tokens": [{"id": a["id"], "content": a["content"], "special": a["special"]}
                         for a in tj["added_tokens"]],
    }


def make_splits():
    from tokenizers import Regex, pre_tokenizers
    out = {}
    for pre, patterns in PRE_PATTERNS.items():
        seq = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False) for p in patterns])
        out[pre] = [{"text": s, "pieces": [p for p, _ in seq.pre_tokenize_str(s)]}
                    for s in SPLIT_INPUTS]
    return out


# White_Space as Oniguruma's \s matches it; PCRE2's \s also takes U+180E, so the C++ side
# spells the class out. Checked against `tokenizers` by --unicode-table.
WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
               0x2028, 0x2029, 0x202F, 0x205F, 0x3000]


def onig_members(pattern):
    from tokenizers import Regex, pre_tokenizers
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
    outside = set()
    for piece, _ in split.pre_tokenize_str("".join(map(chr, cps))):
        outside.update(map(ord, piece))
    return set(cps) - outside


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def write_unicode_table(path):
    import unicodedata
    assert onig_members(r"\s") == set(WHITE_SPACE), "tokenizers' \\s is not the expected White_Space"
    lines = [
        "// Generated by tools/gen_tokenizer_fixtures.py --unicode-table; do not edit.",
        f"// Code points in these general categories per `tokenizers` (Oniguruma) that Unicode "
        f"{unicodedata.unidata_version}",
        "// leaves unassigned: added to PCRE2's \\p{X} so new characters split as the reference does.",
    ]
    for cat in "LNPSM":
        new = {c for c in onig_members(r"\p{%s}" % cat) if unicodedata.category(chr(c)) == "Cn"}
        items = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges(new))
        lines.append(f'{{"{cat}", R"({items})"}},')
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    print(f"wrote {path}")


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=FIXTURES)
    ap.add_argument("--only", choices=sorted(VOCABS), action="append")
    ap.add_argument("--unicode-table", action="store_true")
    args = ap.parse_args()
    if args.unicode_table:
        write_unicode_table(ROOT / "engine" / "tokenizer" / "unicode_additions.inc")
        return
    corpus = read_corpus_bytes(FIXTURES / "corpus.txt")
    unexplained = 0
    for name in args.only or sorted(VOCABS):
        gguf_name, hf_dir = VOCABS[name]
        tokenizer_json = MODELS / "tokenizers" / hf_dir / "tokenizer.json" if hf_dir else None
        expected, bad = make_expected(name, MODELS / gguf_name, corpus, tokenizer_json)
        write_json(args.out / f"{name}_expected.json", expected)
        unexplained += bad
    if not args.only:
        write_json(args.out / "pretokenizer_splits.json", make_splits())
    if unexplained:
        print(f"warning: llama.cpp disagrees on {unexplained} case(s) not explained by NFC",
              file=sys.stderr)


if __name__ == "__main__":
    main()
