// Refuses to start on a CPU that lacks an instruction set this build was compiled for (e.g. a
// package built for x86-64-v3 on a CPU without AVX2), with a sentence instead of SIGILL.
// This file is compiled for the baseline x86-64 whatever GLASSBOX_ARCH says
// (app/platform/CMakeLists.txt), and runs as the first constructor of the executable, before any
// code that may use AVX2. It calls no inline library code (std::string and the like): the linker
// could pick another translation unit's copy of it, compiled with AVX2.
#include <cstdio>
#include <cstdlib>
#include <cstring>

// GB_CPU_ARCH and GB_CPU_NEEDS_* are defined only when -march asks for more than the baseline.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(GB_CPU_ARCH)

namespace {

char missing[128];

void need(bool have, const char* name) {
    if (have) return;
    if (missing[0]) std::strncat(missing, ", ", sizeof missing - std::strlen(missing) - 1);
    std::strncat(missing, name, sizeof missing - std::strlen(missing) - 1);
}

// GB_CPU_NEEDS_<FEATURE> come from the compiler's own macros for the build's -march
// (app/platform/CMakeLists.txt), so the list follows GLASSBOX_ARCH and GLASSBOX_NATIVE.
__attribute__((constructor(101))) void refuse_unsupported_cpu() {
    __builtin_cpu_init();  // constructors may run before libgcc's own detection
#ifdef GB_CPU_NEEDS_AVX
    need(__builtin_cpu_supports("avx"), "AVX");
#endif
#ifdef GB_CPU_NEEDS_AVX2
    need(__builtin_cpu_supports("avx2"), "AVX2");
#endif
#ifdef GB_CPU_NEEDS_FMA
    need(__builtin_cpu_supports("fma"), "FMA");
#endif
#if defined(GB_CPU_NEEDS_F16C) && !defined(__clang__)  // clang 14 does not know "f16c"
    need(__builtin_cpu_supports("f16c"), "F16C");
#endif
#ifdef GB_CPU_NEEDS_BMI2
    need(__builtin_cpu_supports("bmi2"), "BMI2");
#endif
#ifdef GB_CPU_NEEDS_AVX512F
    need(__builtin_cpu_supports("avx512f"), "AVX-512F");
#endif
#ifdef GB_CPU_NEEDS_AVX512BW
    need(__builtin_cpu_supports("avx512bw"), "AVX-512BW");
#endif
#ifdef GB_CPU_NEEDS_AVX512VL
    need(__builtin_cpu_supports("avx512vl"), "AVX-512VL");
#endif
#ifdef GB_CPU_NEEDS_AVX512VNNI
    need(__builtin_cpu_supports("avx512vnni"), "AVX-512 VNNI");
#endif
    // GLASSBOX_PRETEND_OLD_CPU shows the refusal on any CPU, so a test can see it
    // (tests/install/install_layout_test.py).
    if (!missing[0] && !std::getenv("GLASSBOX_PRETEND_OLD_CPU")) return;
    std::fprintf(stderr,
                 "This build of Glassbox needs a CPU with %s (it was compiled with -march=%s); "
                 "this CPU lacks %s. Build Glassbox from source on this machine instead "
                 "(tools/build.sh compiles for the CPU it runs on).\n",
                 GB_CPU_NEEDS_LIST, GB_CPU_ARCH, missing[0] ? missing : "(none: pretending)");
    std::_Exit(1);
}

}  // namespace

#endif
