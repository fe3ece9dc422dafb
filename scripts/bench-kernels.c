/* Dendrite's own GEMM kernels (Sources/CKernels) against OpenBLAS's sgemm, one thread each (as
 * each worker of a convolution calls them), on the shapes LeNet's convolutions issue: per chunk
 * of images (what Dendrite calls) and over the whole batch of 64 (the "one GEMM over the batch"
 * route). OpenBLAS gets the same product A·B (for the weight gradient, Dendrite's plain path
 * gives it dR·colᵀ instead: the same FLOPs). Interleaved, the best of 9 rounds each. Prints a
 * Markdown table. Built and run by scripts/bench-kernels. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ckernels.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

/* ta: A·B, or Aᵀ·B. */
static void row(const char *name, int ta, int m, int n, int k) {
    float *a = malloc(4L * m * k), *b = malloc(4L * k * n), *c = malloc(4L * m * n);
    for (long i = 0; i < (long)m * k; i++) a[i] = (i % 7) * 1e-3f;
    for (long i = 0; i < (long)k * n; i++) b[i] = (i % 5) * 1e-3f;
    int lda = ta ? m : k, top = dk_cpu_level();
    double best[3] = {1e9, 1e9, 1e9}, flops = 2.0 * m * n * k;
    long reps = 1 + (long)(2e8 / flops);  /* about 0.2 GFLOP per timing */
    for (int r = 0; r < 9; r++) {
        for (int level = 0; level <= top; level++) {
            double s = now();
            for (long i = 0; i < reps; i++) {
                if (level == 0) cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1, a, lda, b, n, 0, c, n);
                else dk_gemm_rowmajor_b(level, m, n, k, a, ta ? 1 : lda, ta ? lda : 1, b, n, c, n, 0, 0);
            }
            double e = (now() - s) / reps;
            if (e < best[level]) best[level] = e;
        }
    }
    printf("| %s | %d×%d×%d%s | %.1f |", name, m, n, k, ta ? " (Aᵀ)" : "", flops / best[0] / 1e9);
    for (int level = 1; level <= 2; level++) {
        if (level <= top) printf(" %.1f (%.2f×) |", flops / best[level] / 1e9, best[0] / best[level]);
        else printf(" – |");
    }
    printf("\n");
    free(a); free(b); free(c);
}

int main(void) {
    openblas_set_num_threads(1);
    printf("OpenBLAS %s, 1 thread; GFLOP/s, best of 9 (speed-up over OpenBLAS)\n\n", openblas_get_corename());
    printf("| product | m×n×k | OpenBLAS | own AVX2 | own AVX-512 |\n|---|---|---|---|---|\n");
    /* conv1: 20 filters of 1×5×5 over 24×24 positions; 9 images per chunk, 64 per batch. */
    row("conv1 W·col, a chunk of 9 images", 0, 20, 9 * 576, 25);
    row("conv1 W·col, the batch of 64", 0, 20, 64 * 576, 25);
    /* conv2: 50 filters of 20×5×5 over 8×8 positions; 4 images per chunk. */
    row("conv2 W·col, a chunk of 4 images", 0, 50, 4 * 64, 500);
    row("conv2 W·col, the batch of 64", 0, 50, 64 * 64, 500);
    row("conv2 Wᵀ·dR, a chunk of 4 images", 1, 500, 4 * 64, 50);
    row("conv2 Wᵀ·dR, the batch of 64", 1, 500, 64 * 64, 50);
    /* The weight gradients dR·rows, rows = the columns transposed (dk_im2row), per chunk. */
    row("conv1 dR·rows, a chunk of 9 images", 0, 20, 25, 9 * 576);
    row("conv2 dR·rows, a chunk of 4 images", 0, 50, 500, 4 * 64);
    return 0;
}
