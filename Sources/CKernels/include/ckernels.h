// Dendrite's own small-matrix kernels (issue 18), for the GEMM shapes of convolutions, where
// OpenBLAS packs both operands for every small call, and element-wise kernels that gain from
// FMA. Plain C with intrinsics in functions compiled for one instruction set each (target
// attributes), picked at run time (SmallGEMM).
#ifndef DENDRITE_CKERNELS_H
#define DENDRITE_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

// What this CPU runs: 2 = AVX-512F, 1 = AVX2 with FMA, 0 = neither.
int dk_cpu_level(void);

// A spin-wait hint (PAUSE): a thread that polls a flag yields the core's resources meanwhile.
static inline void dk_pause(void) { __builtin_ia32_pause(); }

// C [m, n] = bias + A·B, or C += bias + A·B when `accumulate`, with bias[i] added to row i (no
// bias when NULL). B is row-major [k, n] with row stride ldb; C row-major with row stride ldc;
// A's element (i, p) sits at a[i·a_row + p·a_col], so that A row-major [m, k] is (a_row = lda,
// a_col = 1) and Aᵀ of a row-major [k, m] is (1, lda). Each C element is summed as
// ((bias[i] + term 0) + term 1) + … + term k − 1 (fused multiply-adds), whatever m and n are.
// level 2 uses AVX-512F, level 1 AVX2 and FMA: call only a level dk_cpu_level() reports.
void dk_gemm_rowmajor_b(int level, int m, int n, int k, const float *a, ptrdiff_t a_row, ptrdiff_t a_col,
                        const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias, int accumulate);

// The sigmoid and the sigmoid cross-entropy loss eight floats at a time with AVX2 and FMA (call
// only when dk_cpu_level() ≥ 1). Each element's result is the same at any position, so it does
// not depend on n or on how a tensor is split. NaN stays NaN.
// y[i] = 1 / (1 + e^(−c·x[i])); y may be x.
void dk_sigmoid(ptrdiff_t n, const float *x, float *y, float c);
// Σ −(x·(t − [x ≥ 0]) − log(1 + e^(−|x|))) over the i whose t[i] is not `ignore` (all of them
// without `has_ignore`), summed in Double lane by lane (i mod 8); their count in *valid.
double dk_sigmoid_cross_entropy(ptrdiff_t n, const float *x, const float *t, int has_ignore, float ignore,
                                ptrdiff_t *valid);
// dx[i] = scale·(σ(x[i]) − t[i]), 0 where t[i] is `ignore`; added onto dx when `accumulate`.
void dk_sigmoid_cross_entropy_grad(ptrdiff_t n, const float *x, const float *t, int has_ignore, float ignore,
                                   float scale, float *dx, int accumulate);

// One time step of the LSTM's element-wise pass over `rows` streams of h units, with AVX2 and FMA
// (call only when dk_cpu_level() ≥ 1); rows of `gates` and `gate_grads` are [4h] (i, f, o, g),
// the others [h], one value of cont per row. Forward: the pre-activations in `gates` become the
// activations i, σ(f), o, g; c_t = cont·f⊙c_{t−1} + i⊙g into `cell`, h_t = o⊙tanh c_t into
// `hidden`, and cont_next·h_t into h_next (skipped when NULL).
void dk_lstm_step_forward(ptrdiff_t rows, ptrdiff_t h, float *gates, const float *cont, const float *cont_next,
                          const float *cell_prev, float *cell, float *hidden, float *h_next);
// Backward from the stored activations: dh holds what step t+1 sent to h_t before its cont
// (cont_next NULL: 1, the last step), hidden_grad the top's gradient (NULL: none), dc the
// gradient reaching c_t from step t+1. Writes the pre-activations' gradients into gate_grads
// and leaves in dc the gradient reaching c_{t−1}.
void dk_lstm_step_backward(ptrdiff_t rows, ptrdiff_t h, const float *gates, float *gate_grads, const float *cont,
                           const float *cont_next, const float *cell_prev, const float *cell,
                           const float *hidden_grad, float *dh, float *dc);

// One image's convolution with stride 1, no padding, no dilation and one group.
typedef struct {
    int channels, height, width;  // input [channels, height, width]
    int outputs, kernel_h, kernel_w;  // weight [outputs, channels, kernel_h, kernel_w]
    int out_h, out_w;  // height − kernel_h + 1, width − kernel_w + 1
} dk_conv_shape;

// out [outputs, out_h, out_w] = bias + W ∗ image, computed directly (no column matrix). Level 2
// uses AVX-512F, level 1 AVX2 and FMA (call only a level dk_cpu_level() reports). Each output
// is summed over (c, ky, kx) in order from the bias (0 when NULL) with fused multiply-adds:
// dk_gemm_rowmajor_b's bits on im2col's columns, at either level.
void dk_conv_direct(int level, const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                    float *out);

// The same convolution for out_w = 8 without a column matrix: W·col's tiles read each tap's
// columns straight from the image. Level 2 uses AVX-512F, level 1 AVX2 and FMA (call only a
// level dk_cpu_level() reports). Same bits as dk_gemm_rowmajor_b on im2col's columns.
void dk_conv_implicit8(int level, const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                       float *out);

// rows [out_h·out_w, channels·kernel_h·kernel_w] (row stride ldrows): row p = oy·out_w + ox holds
// image[c][oy + ky][ox + kx] in (c, ky, kx) order, the transpose of im2col's columns. The weight
// gradient's B operand, so that dk_gemm_rowmajor_b computes dW = dR·colᵀ without a transposed
// copy. AVX-512F (call only at level 2).
void dk_im2row(const dk_conv_shape *s, const float *image, float *rows, ptrdiff_t ldrows);

// image [channels, height, width] (+)= col2im(col): the adjoint of im2col's columns [channels·
// kernel_h·kernel_w, out_h·out_w] (row stride ldcol), for width ≤ 16. Without accumulate the
// image is written. Same bits as Im2col.col2im. AVX-512F (call only at level 2).
void dk_col2im16(const dk_conv_shape *s, const float *col, ptrdiff_t ldcol, float *image, int accumulate);

// Planes [height, width] pooled to [out_h, out_w] by 2×2 windows with stride 2, all inside the
// plane (2·out_h ≤ height, 2·out_w ≤ width).
typedef struct {
    int height, width, out_h, out_w;
} dk_pool_shape;

// output = the max of each window, argmax = the index of its input within the plane (the first
// in reading order on ties; NaN never wins against a number before it), for `planes`
// consecutive planes. AVX-512F (call only at level 2). Same results as
// PoolingKernel.maxForward2x2.
void dk_maxpool2x2_forward(const dk_pool_shape *s, ptrdiff_t planes, const float *input, float *output,
                           int32_t *argmax);

#endif
