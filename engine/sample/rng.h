// Portable pseudo-random numbers for sampling: xoshiro256** seeded through splitmix64
// (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021). Written out here
// because <random>'s distributions differ between standard libraries, and a seed must give the
// same tokens everywhere.
#pragma once

#include <cstdint>

namespace gb {

// splitmix64: a 64-bit counter through a bijective mixer. Used to expand one seed into the
// xoshiro state, so nearby seeds (0, 1, 2...) still give unrelated streams.
inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

class Xoshiro256 {
public:
    explicit Xoshiro256(uint64_t seed = 0) { reseed(seed); }

    void reseed(uint64_t seed) {
        uint64_t sm = seed;
        for (uint64_t& w : s_) w = splitmix64(sm);  // never all zero: splitmix64 is a bijection
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits: exact in a double, the same on every platform.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

}  // namespace gb
