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
