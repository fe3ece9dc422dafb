// C = A·B with B row-major: register-blocked tiles of MR rows of C by two vectors of columns,
// accumulated over all of k in registers, no packing. Each tile reads its MR rows of A by
// broadcasts and B's row p as two vector loads (masked at the right edge), and does 2·MR FMAs
// per p. Shapes LeNet's convolutions hand it: W·col per image, m = output channels (20, 50),
// k = C·kh·kw (25, 500), n = positions (576, 64); Wᵀ·dR per chunk, m = 500, k = 50, n = 256.
// The loop over column panels is the outer one: a panel of B
// (2 vectors × k rows) comes from memory once and from cache for every tile of rows, and all
// of A stays in L2. When A is the larger operand and row-major (m > n: an inner product's
// Yᵀ = W·Xᵀ, W [outputs, inputs] far larger than the batch's Xᵀ), the loop over row tiles is
// the outer one instead: each block of A's rows comes from memory once, prefetched ahead
// along its rows, and B stays in L2.
#include "ckernels.h"
#include "common.h"

// Every loop over a tile's rows is unrolled, so that its accumulators live in registers.

int dk_cpu_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

// MARK: AVX-512: up to 12 rows × 32 columns, 24 accumulators of 16 floats.

// PREFETCH (A row-major, ac = 1): every 16 steps of p, each of the tile's rows of A is
// prefetched A_PREFETCH floats ahead (64: about 800 cycles of this tile's FMAs, a DRAM access
// and some; 64 to 256 measured alike).
enum { A_PREFETCH = 64 };

#define TILE512(MR, NAME, PREFETCH)                                                                   \
    static AVX512 void NAME##_##MR(int k, const float *a, ptrdiff_t ar, ptrdiff_t ac, const float *b,  \
                                   ptrdiff_t ldb, float *c, ptrdiff_t ldc, __mmask16 m0, __mmask16 m1, \
                                   const float *bias, int accumulate) {                               \
        __m512 lo[MR], hi[MR];                                                                        \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                               \
            lo[r] = hi[r] = bias ? _mm512_set1_ps(bias[r]) : _mm512_setzero_ps();                     \
        for (int p = 0; p < k; p++) {                                                                 \
            const float *bp = b + p * ldb, *ap = a + p * ac;                                          \
            if (PREFETCH && (p & 15) == 0) {                                                          \
                _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                       \
                    _mm_prefetch((const char *)(ap + r * ar + A_PREFETCH), _MM_HINT_T0);              \
            }                                                                                         \
            __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16);       \
            _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                            \
                __m512 x = _mm512_set1_ps(ap[r * ar]);                                                \
                lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);                                                \
                hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);                                                \
            }                                                                                         \
        }                                                                                             \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                                                \
            float *cr = c + r * ldc;                                                                  \
            if (accumulate) {                                                                         \
                lo[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), lo[r]);                          \
                hi[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), hi[r]);                     \
            }                                                                                         \
            _mm512_mask_storeu_ps(cr, m0, lo[r]);                                                     \
            _mm512_mask_storeu_ps(cr + 16, m1, hi[r]);                                                \
        }                                                                                             \
    }

#define TILES512(NAME, PREFETCH)                                                                      \
    TILE512(1, NAME, PREFETCH) TILE512(2, NAME, PREFETCH) TILE512(3, NAME, PREFETCH)                  \
    TILE512(4, NAME, PREFETCH) TILE512(5, NAME, PREFETCH) TILE512(6, NAME, PREFETCH)                  \
    TILE512(7, NAME, PREFETCH) TILE512(8, NAME, PREFETCH) TILE512(9, NAME, PREFETCH)                  \
    TILE512(10, NAME, PREFETCH) TILE512(11, NAME, PREFETCH) TILE512(12, NAME, PREFETCH)
TILES512(tile512, 0)
TILES512(streaming512, 1)

typedef void (*tile512_fn)(int, const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t, float *, ptrdiff_t,
                           __mmask16, __mmask16, const float *, int);
static const tile512_fn tiles512[13] = {0, tile512_1, tile512_2, tile512_3, tile512_4, tile512_5, tile512_6,
                                        tile512_7, tile512_8, tile512_9, tile512_10, tile512_11, tile512_12};
static const tile512_fn streaming512[13] = {0, streaming512_1, streaming512_2, streaming512_3, streaming512_4,
                                            streaming512_5, streaming512_6, streaming512_7, streaming512_8,
                                            streaming512_9, streaming512_10, streaming512_11, streaming512_12};

static AVX512 void gemm512(int m, int n, int k, const float *a, ptrdiff_t ar, ptrdiff_t ac, const float *b,
                           ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias, int accumulate) {
    int tiles, mr = tile_rows(m, 12, &tiles);
    if (m > n && ac == 1) {
        for (int i = 0; i < m; i += mr) {
            int rows = m - i < mr ? m - i : mr;
            for (int j = 0; j < n; j += 32) {
                int cols = n - j < 32 ? n - j : 32;
                // The first panel brings the rows of A in; the others find them in cache.
                tile512_fn tile = j == 0 ? streaming512[rows] : tiles512[rows];
                tile(k, a + i * ar, ar, ac, b + j, ldb, c + i * ldc + j, ldc, lanes512(cols), lanes512(cols - 16),
                     bias ? bias + i : 0, accumulate);
            }
        }
        return;
    }
    for (int j = 0; j < n; j += 32) {
        int cols = n - j < 32 ? n - j : 32;
        __mmask16 m0 = lanes512(cols), m1 = lanes512(cols - 16);
        for (int i = 0; i < m; i += mr) {
            int rows = m - i < mr ? m - i : mr;
            tiles512[rows](k, a + i * ar, ar, ac, b + j, ldb, c + i * ldc + j, ldc, m0, m1, bias ? bias + i : 0, accumulate);
        }
    }
}

// MARK: AVX2: up to 6 rows × 16 columns, 12 accumulators of 8 floats.

// The loop over p, with B's two vectors loaded by LOAD0 and LOAD1: plain loads for a full
// tile, masked ones at the right edge (16 registers cannot hold the masks too). Full tiles
// store plainly as well: a masked store is microcoded and slow on AMD's cores.
#define LOOP256(MR, LOAD0, LOAD1)                                                                     \
    for (int p = 0; p < k; p++) {                                                                     \
        const float *bp = b + p * ldb, *ap = a + p * ac;                                              \
        __m256 b0 = LOAD0, b1 = LOAD1;                                                                \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                             \
            __m256 x = _mm256_broadcast_ss(ap + r * ar);                                              \
            lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);                                                    \
            hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);                                                    \
        }                                                                                             \
    }

#define TILE256(MR)                                                                                   \
    static AVX2 void tile256_##MR(int k, const float *a, ptrdiff_t ar, ptrdiff_t ac, const float *b,   \
                                  ptrdiff_t ldb, float *c, ptrdiff_t ldc, int cols, const float *bias, \
                                  int accumulate) {                                                   \
        __m256 lo[MR], hi[MR];                                                                        \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                               \
            lo[r] = hi[r] = bias ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps();                     \
        __m256i m0 = lanes256(cols), m1 = lanes256(cols - 8);                                         \
        if (cols == 16) {                                                                             \
            LOOP256(MR, _mm256_loadu_ps(bp), _mm256_loadu_ps(bp + 8))                                 \
        } else {                                                                                      \
            LOOP256(MR, _mm256_maskload_ps(bp, m0), _mm256_maskload_ps(bp + 8, m1))                   \
        }                                                                                             \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                             \
            float *cr = c + r * ldc;                                                                  \
            if (cols == 16) {                                                                         \
                if (accumulate) {                                                                     \
                    lo[r] = _mm256_add_ps(_mm256_loadu_ps(cr), lo[r]);                                \
                    hi[r] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), hi[r]);                            \
                }                                                                                     \
                _mm256_storeu_ps(cr, lo[r]);                                                          \
                _mm256_storeu_ps(cr + 8, hi[r]);                                                      \
                continue;                                                                             \
            }                                                                                         \
            if (accumulate) {                                                                         \
                lo[r] = _mm256_add_ps(_mm256_maskload_ps(cr, m0), lo[r]);                             \
                hi[r] = _mm256_add_ps(_mm256_maskload_ps(cr + 8, m1), hi[r]);                         \
            }                                                                                         \
            _mm256_maskstore_ps(cr, m0, lo[r]);                                                       \
            _mm256_maskstore_ps(cr + 8, m1, hi[r]);                                                   \
        }                                                                                             \
    }

TILE256(1) TILE256(2) TILE256(3) TILE256(4) TILE256(5) TILE256(6)

typedef void (*tile256_fn)(int, const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t, float *, ptrdiff_t,
                           int, const float *, int);
static const tile256_fn tiles256[7] = {0, tile256_1, tile256_2, tile256_3, tile256_4, tile256_5, tile256_6};

static AVX2 void gemm256(int m, int n, int k, const float *a, ptrdiff_t ar, ptrdiff_t ac, const float *b,
                         ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias, int accumulate) {
    int tiles, mr = tile_rows(m, 6, &tiles);
    for (int j = 0; j < n; j += 16) {
        int cols = n - j < 16 ? n - j : 16;
        for (int i = 0; i < m; i += mr) {
            int rows = m - i < mr ? m - i : mr;
            tiles256[rows](k, a + i * ar, ar, ac, b + j, ldb, c + i * ldc + j, ldc, cols, bias ? bias + i : 0, accumulate);
        }
    }
}

void dk_gemm_rowmajor_b(int level, int m, int n, int k, const float *a, ptrdiff_t a_row, ptrdiff_t a_col,
                        const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, const float *bias, int accumulate) {
    if (m <= 0 || n <= 0) return;
    if (level >= 2) gemm512(m, n, k, a, a_row, a_col, b, ldb, c, ldc, bias, accumulate);
    else gemm256(m, n, k, a, a_row, a_col, b, ldb, c, ldc, bias, accumulate);
}
