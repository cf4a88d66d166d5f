/* FMA throughput of one core, for the GEMM sweep's "% of peak" (these VMs hide the clock).
 * 24 independent vector accumulators (more than FMA units × latency) updated with fused
 * multiply-adds in GCC/Clang vector extensions, at the widest vector the compiler targets
 * (-march=native). Prints the best GFLOP/s over several timed runs.
 *   cc -O2 -march=native -ffp-contract=fast Benchmarks/fma_peak.c -o fma_peak && ./fma_peak */
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
typedef float vec __attribute__((vector_size(LANES * 4)));

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define ACC(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
    X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define DECLARE(j) vec acc##j = a * (float)j;
#define STEP(j) acc##j = acc##j * b + a;
#define SUM(j) for (int i = 0; i < LANES; i++) sum += acc##j[i];

int main(void) {
    vec a, b;
    for (int i = 0; i < LANES; i++) { a[i] = 1.0f + 1e-7f * i; b[i] = 0.999999f; }
    ACC(DECLARE)
    const long steps = 20000000;
    double best = 0;
    for (int run = 0; run < 5; run++) {
        double t = now();
        for (long s = 0; s < steps; s++) { ACC(STEP) }
        double g = 2.0 * 24 * LANES * steps / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    float sum = 0;
    ACC(SUM)
    printf("%.1f GFLOP/s (%d-lane fp32 FMA, checksum %g)\n", best, LANES, sum);
    return 0;
}
