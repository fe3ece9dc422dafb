// What the kernel files share (not part of the module's interface, include/ckernels.h).
#ifndef DENDRITE_CKERNELS_COMMON_H
#define DENDRITE_CKERNELS_COMMON_H

#include <immintrin.h>
#include <stddef.h>

// Functions compiled for one instruction set each, called only at a level dk_cpu_level() reports.
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f")))

// Lane i on (all ones) when i < count, for the masked loads and stores of a tail; any count
// (≤ 0: none, ≥ 8: all).
static inline AVX2 __m256i lanes256(ptrdiff_t count) {
    int c = count > 8 ? 8 : count < 0 ? 0 : (int)count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The same as an AVX-512 mask of 16 lanes (≤ 0: none, ≥ 16: all).
static inline __mmask16 lanes512(ptrdiff_t count) {
    return count <= 0 ? 0 : count >= 16 ? 0xFFFF : (__mmask16)((1u << count) - 1);
}

// Eight floats at p, or the `left` (< 8) before the end under `mask` (lanes256(left)); a plain
// load or store for a full vector, since masked ones are slow on AMD's cores.
static inline AVX2 __m256 load8(const float *p, ptrdiff_t left, __m256i mask) {
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

static inline AVX2 void store8(float *p, ptrdiff_t left, __m256i mask, __m256 v) {
    if (left >= 8) _mm256_storeu_ps(p, v); else _mm256_maskstore_ps(p, mask, v);
}

// The n (≤ 16) floats at p in the first lanes, zeros after them: a plain load for 16, 8 or 4
// floats, a masked one for other counts (masked loads are slower on AMD's cores too).
static inline AVX512 __m512 load_lanes(const float *p, int n) {
    if (n >= 16) return _mm512_loadu_ps(p);
    if (n <= 0) return _mm512_setzero_ps();
    if (n == 8) return _mm512_zextps256_ps512(_mm256_loadu_ps(p));
    if (n == 4) return _mm512_zextps128_ps512(_mm_loadu_ps(p));
    return _mm512_maskz_loadu_ps(lanes512(n), p);
}

// Stores the first n (≤ 16) lanes of v at p as plain stores of 16, 8 and 4 floats, masking
// only the last 1 to 3: a masked store is slow on AMD's cores (LeNet's pooled rows are 4 and
// 12 floats, its conv2 input's 12).
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

// m rows split into tiles of at most `most` rows, as even as can be (50 rows with 12 at most: 5
// tiles of 10), so that no tile is a thin remainder; returns the rows per tile.
static inline int tile_rows(int m, int most, int *tiles) {
    *tiles = (m + most - 1) / most;
    return (m + *tiles - 1) / *tiles;
}

// The element-wise math of VectorMath.swift (Cephes' expf coefficients) with the multiply-adds
// fused: each element gets the same bits at any position in a vector.

// eˣ for x clamped to [−87.3, 88.3]. max(lo, x) and min(hi, x) return x when x is NaN (the
// instructions return their second operand then), so NaN stays NaN.
static inline AVX2 __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x));
    const __m256 magic = _mm256_set1_ps(12582912.0f);  // 1.5·2²³: adding it rounds to an integer
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.98756915e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.39819995e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.16657959e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.66666655e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.00000012e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_castps_si256(shifted);
    bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(bits, _mm256_set1_epi32(0x4B400000)), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

static inline AVX2 __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh x = 1 − 2 / (e²ˣ + 1), as VectorMath.tanh.
static inline AVX2 __m256 tanh8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(exp8(_mm256_add_ps(x, x)), one)));
}

#endif
