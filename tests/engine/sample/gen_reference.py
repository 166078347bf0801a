"""Reference values for the sampler and trace tests, computed independently of our C++ code.

Run: ${GB_PYTHON:-python3} tests/engine/sample/gen_reference.py
Prints C++ initialisers that are pasted into sampler_test.cpp and trace_test.cpp:
  - xoshiro256** outputs (Blackman & Vigna's published algorithm, seeded by splitmix64),
    written here from the paper with Python integers;
  - log-softmax, entropy and top-5 of a fixed logit row, with numpy in float64;
  - Python's own UTF-8 decoder with errors="replace" on the Unicode standard's U+FFFD example.
Needs numpy.
"""
import numpy as np

M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


def xoshiro_stream(seed, n):
    st, s = seed, []
    for _ in range(4):
        st, v = splitmix64(st)
        s.append(v)
    out = []
    for _ in range(n):
        out.append((rotl((s[1] * 5) & M64, 7) * 9) & M64)
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


for seed in (0, 42, (1 << 64) - 1):
    vals = ", ".join(f"{v}ull" for v in xoshiro_stream(seed, 4))
    print(f"// xoshiro256** seed {seed}\n{{{seed}ull, {{{vals}}}}},")

# Logit row shared with trace_test.cpp: float32 of ((i * 7919) % 1000) / 100 - 5.
n = 1000
logits = np.array([np.float32(((i * 7919) % 1000) / 100.0 - 5.0) for i in range(n)], dtype=np.float32)
x = logits.astype(np.float64)
m = x.max()
logz = m + np.log(np.exp(x - m).sum())
logp = x - logz
p = np.exp(logp)
entropy = -(p * logp).sum()
order = sorted(range(n), key=lambda i: (-x[i], i))[:5]
print(f"// token_stats reference: chosen 123 logprob, entropy, top-5 (id, logprob)")
print(f"logprob_123 = {float(logp[123])!r}; entropy = {float(entropy)!r};")
print("top5 = {" + ", ".join(f"{{{i}, {float(logp[i])!r}}}" for i in order) + "};")

# Unicode 16.0 section 3.9.6, "U+FFFD substitution of maximal subparts" example bytes.
raw = bytes([0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64])
print("maximal subparts:", raw.decode("utf-8", errors="replace").encode("unicode_escape"))
