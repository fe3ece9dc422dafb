/* Machine limits for scripts/bench, measured in the same run as the workloads:
 *   peaks THREADS          fma: peak single-precision FMA throughput of THREADS cores
 *                          (independent vector FMAs); sgemm: OpenBLAS sgemm throughput at
 *                          1024×1024×1024 on THREADS OpenBLAS threads
 *   peaks THREADS --floor  OpenBLAS's floor for one workload: reads the `gemm m=… n=… k=…
 *                          op=NN count=C` lines of `dtrain --time` or `dtest --time` on stdin,
 *                          times sgemm alone on each shape on THREADS OpenBLAS threads (the
 *                          best of 5 batches of calls, operands warm in cache), and adds up
 *                          count × time
 * Prints one JSON object. Built by scripts/bench with the C compiler at hand. */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

#define ITERS 20000000L
#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define STORE _mm512_storeu_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define STORE _mm256_storeu_ps
#endif

/* Twelve independent accumulators in registers hide the FMA latency on two FMA ports;
 * 2 FLOPs per lane per FMA. */
static void *fma_loop(void *out) {
    vec x = SET1(1.0000001f), y = SET1(0.9999999f);
    vec a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5);
    vec a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11);
    for (long n = 0; n < ITERS; n++) {
        a0 = FMA(a0, x, y); a1 = FMA(a1, x, y); a2 = FMA(a2, x, y); a3 = FMA(a3, x, y);
        a4 = FMA(a4, x, y); a5 = FMA(a5, x, y); a6 = FMA(a6, x, y); a7 = FMA(a7, x, y);
        a8 = FMA(a8, x, y); a9 = FMA(a9, x, y); a10 = FMA(a10, x, y); a11 = FMA(a11, x, y);
    }
    float lanes[LANES], s = 0;
    vec sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    STORE(lanes, sum);
    for (int j = 0; j < LANES; j++) s += lanes[j];
    if (s == 42) puts("");  /* keep the result alive */
    *(double *)out = 2.0 * LANES * 12 * ITERS;
    return NULL;
}

/* Seconds per call of one sgemm shape: calls batched to at least 20 ms, the best of 5 batches. */
static double time_sgemm(int m, int n, int k, int ta, int tb) {
    float *a = malloc(4L * m * k), *b = malloc(4L * k * n), *c = malloc(4L * m * n);
    for (long i = 0; i < (long)m * k; i++) a[i] = 1e-3f * (i % 7);
    for (long i = 0; i < (long)k * n; i++) b[i] = 1e-3f * (i % 5);
    int lda = ta ? m : k, ldb = tb ? k : n;
#define CALL cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, \
                         m, n, k, 1, a, lda, b, ldb, 0, c, n)
    double s = now();
    CALL; CALL;
    long reps = 1 + (long)(0.02 / ((now() - s) / 2 + 1e-9));
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        s = now();
        for (long i = 0; i < reps; i++) CALL;
        double e = (now() - s) / reps;
        if (e < best) best = e;
    }
#undef CALL
    free(a); free(b); free(c);
    return best;
}

static int floor_mode(int threads) {
    openblas_set_num_threads(threads);
    char line[512], op[3];
    int m, n, k, count, shapes = 0;
    double total = 0, flops = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "gemm m=%d n=%d k=%d op=%2s count=%d", &m, &n, &k, op, &count) != 5) continue;
        total += count * time_sgemm(m, n, k, op[0] == 'T', op[1] == 'T');
        flops += 2.0 * m * n * k * count;
        shapes++;
    }
    printf("{\"floor_ms\": %.4f, \"gemm_gflop\": %.4f, \"shapes\": %d, \"threads\": %d}\n", total * 1e3, flops / 1e9, shapes, threads);
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2 && strcmp(argv[2], "--floor") == 0) return floor_mode(threads);
    pthread_t t[64]; double flops[64], fma = 0;
    for (int round = 0; round < 3; round++) {  /* the best of three: the machine is shared */
        double start = now(), total = 0;
        for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, fma_loop, &flops[i]);
        for (int i = 0; i < threads; i++) { pthread_join(t[i], NULL); total += flops[i]; }
        double rate = total / (now() - start) / 1e9;
        if (rate > fma) fma = rate;
    }

    int n = 1024;
    float *a = malloc(4L * n * n), *b = malloc(4L * n * n), *c = malloc(4L * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = 1e-3f * (i % 7); b[i] = 1e-3f * (i % 5); }
    openblas_set_num_threads(threads);
    double best = 1e9;
    for (int r = 0; r < 12; r++) {
        double s = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double e = now() - s;
        if (r > 1 && e < best) best = e;
    }
    printf("{\"fma_gflops\": %.1f, \"sgemm_gflops\": %.1f, \"threads\": %d, \"vector\": \"%s\", \"openblas\": \"%s\"}\n",
           fma, 2.0 * n * n * n / best / 1e9, threads,
#ifdef __AVX512F__
           "avx512",
#else
           "avx2",
#endif
           openblas_get_corename());
    return 0;
}
