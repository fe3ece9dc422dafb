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

// m rows split into tiles of at most `most` rows, as even as can be (50 rows with 12 at most: 5
// tiles of 10), so that no tile is a thin remainder; returns the rows per tile.
static inline int tile_rows(int m, int most, int *tiles) {
    *tiles = (m + most - 1) / most;
    return (m + *tiles - 1) / *tiles;
}

#endif
