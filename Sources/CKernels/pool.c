// 2×2 max pooling with stride 2 and no padding, 16 outputs at a time with AVX-512: the
// branch-free comparisons of PoolingKernel.maxForward2x2 done on vectors. Each output row reads
// its two input rows as 32 floats each, split into even and odd columns. (Backward stays a
// scalar scatter in Swift: a vector version that wrote every input's gradient was no faster on
// pool1 and twice as slow on pool2, docs/PERFORMANCE.md.)
#include "ckernels.h"
#include "common.h"

AVX512 void dk_maxpool2x2_forward(const dk_pool_shape *s, ptrdiff_t planes, const float *input, float *output,
                                  int32_t *argmax) {
    const int w = s->width, ow = s->out_w;
    // Lane i of two vectors of 16 consecutive floats: the even columns 2i, the odd ones 2i + 1.
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i one = _mm512_set1_epi32(1), width = _mm512_set1_epi32(w), width1 = _mm512_set1_epi32(w + 1);
    for (ptrdiff_t plane = 0; plane < planes; plane++) {
        const float *src = input + plane * s->height * w;
        float *dst = output + plane * s->out_h * ow;
        int32_t *am = argmax + plane * s->out_h * ow;
        for (int y = 0; y < s->out_h; y++) {
            const float *r0 = src + 2 * y * w, *r1 = r0 + w;
            for (int x = 0; x < ow; x += 16) {
                const int count = ow - x < 16 ? ow - x : 16;
                __m512 a0 = load_lanes(r0 + 2 * x, 2 * count), a1 = load_lanes(r0 + 2 * x + 16, 2 * count - 16);
                __m512 b0 = load_lanes(r1 + 2 * x, 2 * count), b1 = load_lanes(r1 + 2 * x + 16, 2 * count - 16);
                __m512 p0 = _mm512_permutex2var_ps(a0, even, a1), p1 = _mm512_permutex2var_ps(a0, odd, a1);
                __m512 p2 = _mm512_permutex2var_ps(b0, even, b1), p3 = _mm512_permutex2var_ps(b0, odd, b1);
                // As the scalar code: the right input wins only when greater (NaN never does),
                // then the bottom pair's best only when greater than the top's.
                __mmask16 top = _mm512_cmp_ps_mask(p1, p0, _CMP_GT_OQ), bottom = _mm512_cmp_ps_mask(p3, p2, _CMP_GT_OQ);
                __m512 topBest = _mm512_mask_blend_ps(top, p0, p1), bottomBest = _mm512_mask_blend_ps(bottom, p2, p3);
                __mmask16 lower = _mm512_cmp_ps_mask(bottomBest, topBest, _CMP_GT_OQ);
                __m512 best = _mm512_mask_blend_ps(lower, topBest, bottomBest);
                __m512i topIndex = _mm512_maskz_mov_epi32(top, one);
                __m512i bottomIndex = _mm512_mask_blend_epi32(bottom, width, width1);
                __m512i index = _mm512_add_epi32(_mm512_set1_epi32(2 * y * w + 2 * x), even);
                index = _mm512_add_epi32(index, _mm512_mask_blend_epi32(lower, topIndex, bottomIndex));
                store_lanes(dst + y * ow + x, count, best);
                store_lanes((float *)(am + y * ow + x), count, _mm512_castsi512_ps(index));
            }
        }
    }
}
