#!/usr/bin/env python3
"""Makes the golden data of the tokenizer tests from independent references.

Usage: ${GB_PYTHON:-python3} tools/gen_tokenizer_fixtures.py [--model PATH] [--out DIR]
       ${GB_PYTHON:-python3} tools/gen_tokenizer_fixtures.py --unicode-table

Needs the `gguf` and `tokenizers` packages; `llama_cpp` (llama-cpp-python) is used as a second
reference when it is installed. Writes into tests/fixtures/tokenizer/:
  smollm2_expected.json     ids of every corpus.txt line (and of the whole corpus as one text)
                            for SmolLM2-135M-Instruct, with and without special-token parsing,
                            from a Hugging Face `tokenizers` BPE built from the GGUF vocab/merges
  pretokenizer_splits.json  pieces of tricky strings under each pre-tokenizer, from the
                            `tokenizers` Split pre-tokenizer (regexes applied in sequence)

--unicode-table writes engine/tokenizer/unicode_additions.inc instead: the code points that
`tokenizers` (Oniguruma, a recent Unicode) puts in \p{L} \p{N} \p{P} \p{S} \p{M} but this
Python's unicodedata (an older Unicode, like the PCRE2 of most distributions) leaves unassigned,
so that the C++ pre-tokenizer classifies newly encoded characters as the reference does.

corpus.txt holds one case per line; escapes \\n \\t \\r \\\\ and \\uXXXX let a case hold
characters a line cannot.
"""
import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tokenizer"
DEFAULT_MODEL = Path(os.environ.get("GLASSBOX_MODELS", Path.home() / ".cache/glassbox/models")) \
    / "SmolLM2-135M-Instruct.Q4_1.gguf"

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


def unescape(line):
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = line[i + 1] if i + 1 < len(line) else ""
        if nxt in "ntr\\":
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[nxt])
            i += 2
        elif nxt == "u":
            out.append(chr(int(line[i + 2:i + 6], 16)))
            i += 6
        else:
            raise ValueError(f"corpus: unknown escape \\{nxt} in {line!r}")
    return "".join(out)


def read_corpus(path):
    with open(path, encoding="utf-8") as f:
        return [unescape(l.rstrip("\n")) for l in f]


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
    return lambda text, special: llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)


def make_expected(model_path, corpus):
    data = gguf_tokenizer_data(model_path)
    assert data["model"] == "gpt2" and data["pre"] == "smollm", (data["model"], data["pre"])
    hf_special, hf_plain = hf_smollm2(data, True), hf_smollm2(data, False)
    second = llama_cpp_tokenizer(model_path)
    texts = corpus + ["\n".join(corpus)]
    cases, disagreements = [], 0
    for text in texts:
        case = {"text": text}
        for key, hf in (("special", hf_special), ("plain", hf_plain)):
            ids = hf.encode(text, add_special_tokens=False).ids
            if second is not None:
                other = second(text, key == "special")
                if other != ids:
                    disagreements += 1
                    print(f"llama.cpp disagrees ({key}) on {text[:40]!r}:\n  hf  {ids}\n  cpp {other}",
                          file=sys.stderr)
            case[key] = ids
        cases.append(case)
    return {
        "generator": "tools/gen_tokenizer_fixtures.py (tokenizers BPE from the GGUF vocab/merges"
                     + (", checked against llama-cpp-python)" if second else ")"),
        "model": model_path.name,
        "llama_cpp_disagreements": disagreements if second else None,
        "cases": cases,
    }, disagreements


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
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, default=FIXTURES)
    ap.add_argument("--unicode-table", action="store_true")
    args = ap.parse_args()
    if args.unicode_table:
        write_unicode_table(ROOT / "engine" / "tokenizer" / "unicode_additions.inc")
        return
    corpus = read_corpus(FIXTURES / "corpus.txt")
    expected, disagreements = make_expected(args.model, corpus)
    write_json(args.out / "smollm2_expected.json", expected)
    write_json(args.out / "pretokenizer_splits.json", make_splits())
    if disagreements:
        print(f"warning: the two references disagree on {disagreements} case(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
