// Dendrite's own small-matrix kernels (issue 18), for the GEMM shapes of convolutions, where
// OpenBLAS packs both operands for every small call. Plain C with intrinsics in functions
// compiled for one instruction set each (target attributes), picked at run time (SmallGEMM).
#ifndef DENDRITE_CKERNELS_H
#define DENDRITE_CKERNELS_H

#include <stddef.h>

// What this CPU runs: 2 = AVX-512F, 1 = AVX2 with FMA, 0 = neither.
int dk_cpu_level(void);

// C [m, n] = bias + A·B, or C += bias + A·B when `accumulate`, with bias[i] added to row i (no
// bias when NULL). B is row-major [k, n] with row stride ldb; C row-major with row stride ldc;
// A's element (i, p) sits at a[i·a_row + p·a_col], so that A row-major [m, k] is (a_row = lda,
// a_col = 1) and Aᵀ of a row-major [k, m] is (1, lda). Each C element is summed as
// ((bias[i] + term 0) + term 1) + … + term k − 1 (fused multiply-adds), whatever m and n are.
// level 2 uses AVX-512F, level 1 AVX2 and FMA: call only a level dk_cpu_level() reports.
void dk_gemm_rowmajor_b(int level, int m, int n, int k, const float *a, ptrdiff_t a_row, ptrdiff_t a_col,
                        const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias, int accumulate);

#endif
