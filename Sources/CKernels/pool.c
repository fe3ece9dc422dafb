// 2×2 max pooling with stride 2 and no padding, 16 outputs at a time with AVX-512: the
// branch-free comparisons of PoolingKernel.maxForward2x2 done on vectors. Each output row reads
// its two input rows as 32 floats each, split into even and odd columns. (Backward stays a
// scalar scatter in Swift: a vector version that wrote every input's gradient was no faster on
// pool1 and twice as slow on pool2, docs/PERFORMANCE.md.)
#include "ckernels.h"
#include "common.h"

// The n (≤ 16) floats at p in the first lanes, zeros after them: plain loads of 16, 8 and 4
// floats where they fit, a masked load only for the last 1 to 3 (masked loads are slow on AMD's
// cores too, more so with few lanes).
static inline AVX512 __m512 load_lanes(const float *p, int n) {
    if (n >= 16) return _mm512_loadu_ps(p);
    if (n <= 0) return _mm512_setzero_ps();
    if (n == 8) return _mm512_zextps256_ps512(_mm256_loadu_ps(p));
    if (n == 4) return _mm512_zextps128_ps512(_mm_loadu_ps(p));
    return _mm512_maskz_loadu_ps(lanes512(n), p);
}

// Stores the first n (≤ 16) lanes of v at p as plain stores of 16, 8 and 4 floats, masking
// only the last 1 to 3: a masked store is slow on AMD's cores (LeNet's rows are 4, 8, 12 and
// 24 floats).
static inline AVX512 void store_lanes(float *p, int n, __m512 v) {
    if (n >= 16) { _mm512_storeu_ps(p, v); return; }
    __m256 half = _mm512_castps512_ps256(v);
    if (n >= 8) {
        _mm256_storeu_ps(p, half);
        half = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        p += 8; n -= 8;
    }
    __m128 quarter = _mm256_castps256_ps128(half);
    if (n >= 4) {
        _mm_storeu_ps(p, quarter);
        quarter = _mm256_extractf128_ps(half, 1);
        p += 4; n -= 4;
    }
    if (n > 0) _mm512_mask_storeu_ps(p, lanes512(n), _mm512_castps128_ps512(quarter));
}

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
