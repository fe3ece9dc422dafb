// The LSTM's element-wise pass of one time step, forward and backward, with AVX2 and FMA, eight
// units at a time: LSTMKernel.stepForward and stepBackward (VectorMath.swift in Swift, which the
// package's SSE2 baseline compiles to twice as many 4-wide instructions without FMA). Rows are
// streams; each row's 4h gates are i, f, o, g (Caffe's order). The math is the Swift version's,
// with the multiply-adds fused.
#include "ckernels.h"
#include "common.h"

AVX2 void dk_lstm_step_forward(ptrdiff_t rows, ptrdiff_t h, float *gates, const float *cont, const float *cont_next,
                               const float *cell_prev, float *cell, float *hidden, float *h_next) {
    for (ptrdiff_t n = 0; n < rows; n++) {
        float *row = gates + n * 4 * h;
        const float *cp = cell_prev + n * h;
        float *cc = cell + n * h, *hh = hidden + n * h;
        __m256 c = _mm256_set1_ps(cont[n]), c_next = _mm256_set1_ps(cont_next ? cont_next[n] : 0);
        for (ptrdiff_t d = 0; d < h; d += 8) {
            ptrdiff_t left = h - d;
            __m256i mask = lanes256(left);
            __m256 ig = sigmoid8(load8(row + d, left, mask));
            __m256 fg = sigmoid8(load8(row + h + d, left, mask));
            __m256 og = sigmoid8(load8(row + 2 * h + d, left, mask));
            __m256 gg = tanh8(load8(row + 3 * h + d, left, mask));
            // c_t = cont·f⊙c_{t−1} + i⊙g, h_t = o⊙tanh(c_t)
            __m256 cv = _mm256_fmadd_ps(ig, gg, _mm256_mul_ps(_mm256_mul_ps(c, fg), load8(cp + d, left, mask)));
            __m256 hv = _mm256_mul_ps(og, tanh8(cv));
            store8(row + d, left, mask, ig);
            store8(row + h + d, left, mask, fg);
            store8(row + 2 * h + d, left, mask, og);
            store8(row + 3 * h + d, left, mask, gg);
            store8(cc + d, left, mask, cv);
            store8(hh + d, left, mask, hv);
            if (h_next) store8(h_next + n * h + d, left, mask, _mm256_mul_ps(c_next, hv));
        }
    }
}

AVX2 void dk_lstm_step_backward(ptrdiff_t rows, ptrdiff_t h, const float *gates, float *gate_grads, const float *cont,
                                const float *cont_next, const float *cell_prev, const float *cell,
                                const float *hidden_grad, float *dh, float *dc) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (ptrdiff_t n = 0; n < rows; n++) {
        const float *row = gates + n * 4 * h, *cp = cell_prev + n * h, *cc = cell + n * h;
        const float *dy = hidden_grad ? hidden_grad + n * h : 0;
        float *out = gate_grads + n * 4 * h, *dhr = dh + n * h, *dcr = dc + n * h;
        __m256 c = _mm256_set1_ps(cont[n]), c_next = _mm256_set1_ps(cont_next ? cont_next[n] : 1);
        for (ptrdiff_t d = 0; d < h; d += 8) {
            ptrdiff_t left = h - d;
            __m256i mask = lanes256(left);
            __m256 ig = load8(row + d, left, mask), fg = load8(row + h + d, left, mask);
            __m256 og = load8(row + 2 * h + d, left, mask), gg = load8(row + 3 * h + d, left, mask);
            __m256 tc = tanh8(load8(cc + d, left, mask));
            // dL/dh_t: the top's gradient plus what step t+1 sends back, gated by cont_{t+1}.
            __m256 dhv = _mm256_mul_ps(c_next, load8(dhr + d, left, mask));
            if (dy) dhv = _mm256_add_ps(load8(dy + d, left, mask), dhv);
            // dL/dc_t = dc (from step t+1) + dh·o·(1 − tanh²c_t)
            __m256 dcv = _mm256_fmadd_ps(_mm256_mul_ps(dhv, og), _mm256_fnmadd_ps(tc, tc, one), load8(dcr + d, left, mask));
            store8(out + d, left, mask, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dcv, gg), ig), _mm256_sub_ps(one, ig)));
            __m256 cfg = _mm256_mul_ps(c, fg);
            store8(out + h + d, left, mask,
                   _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dcv, c), _mm256_mul_ps(load8(cp + d, left, mask), fg)), _mm256_sub_ps(one, fg)));
            store8(out + 2 * h + d, left, mask, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dhv, tc), og), _mm256_sub_ps(one, og)));
            store8(out + 3 * h + d, left, mask, _mm256_mul_ps(_mm256_mul_ps(dcv, ig), _mm256_fnmadd_ps(gg, gg, one)));
            store8(dcr + d, left, mask, _mm256_mul_ps(dcv, cfg));
        }
    }
}
