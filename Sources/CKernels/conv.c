// Direct convolution for a shallow patch (conv1's one channel and 5×5 window): no column
// matrix. im2col + GEMM writes and reads back K·P floats per image for only OC multiply-adds
// per float, and for K = 25 that copy cost as much as the products.
//
// Stride 1, no padding, no dilation, one group. With AVX2 a tile is up to 3 output channels × 3 vectors
// of 8 columns of one output row: 9 accumulators, 3 input vectors, a broadcast weight and the
// tail mask fit AVX2's 16 registers (with 4 channels the accumulators spilled to the stack, and
// the kernel was no faster than im2col). Each tap (c, ky, kx) loads the tile's input columns
// once and broadcasts each channel's weight. Each output is
// ((bias + term 0) + term 1) + … over the taps in (c, ky, kx) order with fused multiply-adds:
// the order and the operations of dk_gemm_rowmajor_b on im2col's columns, so the bits are the
// same as that path's.
#include "ckernels.h"
#include "common.h"

// Runs the statements given last for each tap p = (c, ky, kx) in order, with `tap_row` pointing
// at image[c][y + ky][kx] (the tap's input for output row y, column 0) and `p` its index into a
// filter's weights.
#define FOR_EACH_TAP(s, image, y, ...)                                                                      \
    {                                                                                                    \
        int p = 0;                                                                                       \
        for (int c = 0; c < (s)->channels; c++)                                                          \
            for (int ky = 0; ky < (s)->kernel_h; ky++) {                                                 \
                const float *row = (image) + ((ptrdiff_t)c * (s)->height + (y) + ky) * (s)->width;       \
                for (int kx = 0; kx < (s)->kernel_w; kx++, p++) {                                        \
                    const float *tap_row = row + kx;                                                     \
                    __VA_ARGS__                                                                          \
                }                                                                                        \
            }                                                                                            \
    }

// One tile: channels o0 ..< o0 + OB, columns x0 ..< x0 + 8·NV of output row y; `last` masks the
// last vector's columns that lie past the row, unless `last_full` (masked stores are slow on AMD).
#define DIRECT_TILE(OB, NV)                                                                                  \
    static AVX2 void direct_tile_##OB##_##NV(const dk_conv_shape *s, const float *image, const float *weight, \
                                             const float *bias, float *out, int o0, int y, int x0, __m256i last,   \
                                             int last_full) {                                              \
        __m256 acc[OB][NV];                                                                                  \
        _Pragma("clang loop unroll(full)") for (int b = 0; b < OB; b++) {                                    \
            __m256 start = bias ? _mm256_set1_ps(bias[o0 + b]) : _mm256_setzero_ps();                        \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) acc[b][v] = start;              \
        }                                                                                                    \
        const int taps = s->channels * s->kernel_h * s->kernel_w;                                            \
        FOR_EACH_TAP(s, image, y, {                                                                          \
            __m256 in[NV];                                                                                   \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                                  \
                in[v] = v == NV - 1 && !last_full ? _mm256_maskload_ps(tap_row + x0 + 8 * v, last)           \
                                                  : _mm256_loadu_ps(tap_row + x0 + 8 * v);                   \
            _Pragma("clang loop unroll(full)") for (int b = 0; b < OB; b++) {                                \
                __m256 w = _mm256_broadcast_ss(weight + (ptrdiff_t)(o0 + b) * taps + p);                     \
                _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                              \
                    acc[b][v] = _mm256_fmadd_ps(w, in[v], acc[b][v]);                                        \
            }                                                                                                \
        })                                                                                                   \
        const int area = s->out_h * s->out_w;                                                                \
        _Pragma("clang loop unroll(full)") for (int b = 0; b < OB; b++) {                                    \
            float *o = out + (ptrdiff_t)(o0 + b) * area + (ptrdiff_t)y * s->out_w + x0;                      \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) {                                \
                if (v == NV - 1 && !last_full) _mm256_maskstore_ps(o + 8 * v, last, acc[b][v]);              \
                else _mm256_storeu_ps(o + 8 * v, acc[b][v]);                                                 \
            }                                                                                                \
        }                                                                                                    \
    }

#define DIRECT_TILES(OB) DIRECT_TILE(OB, 1) DIRECT_TILE(OB, 2) DIRECT_TILE(OB, 3)
DIRECT_TILES(1)
DIRECT_TILES(2)
DIRECT_TILES(3)

typedef void (*direct_tile)(const dk_conv_shape *, const float *, const float *, const float *, float *, int, int, int,
                            __m256i, int);

static const direct_tile tiles[3][3] = {
    {direct_tile_1_1, direct_tile_1_2, direct_tile_1_3},
    {direct_tile_2_1, direct_tile_2_2, direct_tile_2_3},
    {direct_tile_3_1, direct_tile_3_2, direct_tile_3_3},
};

// MARK: AVX-512: up to 12 output channels × 2 vectors of 16 columns of one output row.
//
// 16-column vectors do not divide conv1's 24 columns: the row's last vector is partial, loaded
// under a mask and, except on the last output row, stored whole: what spills lands on the next
// output row's first columns, which the tiles of that row write after (rows go in order, all
// channels of a row before the next). On the last row it is stored under the mask, since what
// follows is the next channel's first row, written long before. Masked stores are slow on AMD.
#define DIRECT512_TILE(OB, NV)                                                                                 \
    static AVX512 void direct512_##OB##_##NV(const dk_conv_shape *s, const float *image, const float *weight,   \
                                             const float *bias, float *out, int o0, int y, int x0,              \
                                             __mmask16 last, int store_whole) {                                \
        __m512 acc[OB][NV];                                                                                    \
        _Pragma("clang loop unroll(full)") for (int b = 0; b < OB; b++) {                                      \
            __m512 start = bias ? _mm512_set1_ps(bias[o0 + b]) : _mm512_setzero_ps();                          \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) acc[b][v] = start;                \
        }                                                                                                      \
        const int taps = s->channels * s->kernel_h * s->kernel_w;                                              \
        FOR_EACH_TAP(s, image, y, {                                                                            \
            __m512 in[NV];                                                                                     \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                                    \
                in[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, tap_row + x0 + 16 * v)                       \
                                    : _mm512_loadu_ps(tap_row + x0 + 16 * v);                                  \
            _Pragma("clang loop unroll(full)") for (int b = 0; b < OB; b++) {                                  \
                __m512 w = _mm512_set1_ps(weight[(ptrdiff_t)(o0 + b) * taps + p]);                             \
                _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                                \
                    acc[b][v] = _mm512_fmadd_ps(w, in[v], acc[b][v]);                                          \
            }                                                                                                  \
        })                                                                                                     \
        const int area = s->out_h * s->out_w;                                                                  \
        _Pragma("clang loop unroll(full)") for (int b = 0; b < OB; b++) {                                      \
            float *o = out + (ptrdiff_t)(o0 + b) * area + (ptrdiff_t)y * s->out_w + x0;                        \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) {                                  \
                if (v == NV - 1 && !store_whole) _mm512_mask_storeu_ps(o + 16 * v, last, acc[b][v]);           \
                else _mm512_storeu_ps(o + 16 * v, acc[b][v]);                                                  \
            }                                                                                                  \
        }                                                                                                      \
    }

#define DIRECT512_TILES(OB) DIRECT512_TILE(OB, 1) DIRECT512_TILE(OB, 2)
DIRECT512_TILES(1) DIRECT512_TILES(2) DIRECT512_TILES(3) DIRECT512_TILES(4) DIRECT512_TILES(5) DIRECT512_TILES(6)
DIRECT512_TILES(7) DIRECT512_TILES(8) DIRECT512_TILES(9) DIRECT512_TILES(10) DIRECT512_TILES(11) DIRECT512_TILES(12)

typedef void (*direct512_tile)(const dk_conv_shape *, const float *, const float *, const float *, float *, int, int,
                               int, __mmask16, int);

static const direct512_tile tiles512[12][2] = {
    {direct512_1_1, direct512_1_2},   {direct512_2_1, direct512_2_2},   {direct512_3_1, direct512_3_2},
    {direct512_4_1, direct512_4_2},   {direct512_5_1, direct512_5_2},   {direct512_6_1, direct512_6_2},
    {direct512_7_1, direct512_7_2},   {direct512_8_1, direct512_8_2},   {direct512_9_1, direct512_9_2},
    {direct512_10_1, direct512_10_2}, {direct512_11_1, direct512_11_2}, {direct512_12_1, direct512_12_2},
};

static AVX512 void conv_direct512(const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                                  float *out) {
    int blocks, ob = tile_rows(s->outputs, 12, &blocks);
    for (int y = 0; y < s->out_h; y++)
        for (int x0 = 0; x0 < s->out_w; x0 += 32) {
            int columns = s->out_w - x0 < 32 ? s->out_w - x0 : 32, vectors = (columns + 15) / 16;
            int last_lanes = columns - 16 * (vectors - 1);
            __mmask16 last = lanes512(last_lanes);
            // Whole when the vector is full, or when its spill stays inside this image's next output row.
            int store_whole = last_lanes == 16 || (y + 1 < s->out_h && x0 + 16 * vectors <= 2 * s->out_w);
            for (int o0 = 0; o0 < s->outputs; o0 += ob) {
                int block = s->outputs - o0 < ob ? s->outputs - o0 : ob;
                tiles512[block - 1][vectors - 1](s, image, weight, bias, out, o0, y, x0, last, store_whole);
            }
        }
}

static AVX2 void conv_direct256(const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                                float *out) {
    for (int y = 0; y < s->out_h; y++)
        for (int x0 = 0; x0 < s->out_w; x0 += 24) {
            int columns = s->out_w - x0 < 24 ? s->out_w - x0 : 24, vectors = (columns + 7) / 8;
            int last_lanes = columns - 8 * (vectors - 1);
            __m256i last = lanes256(last_lanes);
            for (int o0 = 0; o0 < s->outputs; o0 += 3) {
                int block = s->outputs - o0 < 3 ? s->outputs - o0 : 3;
                tiles[block - 1][vectors - 1](s, image, weight, bias, out, o0, y, x0, last, last_lanes == 8);
            }
        }
}

void dk_conv_direct(int level, const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                    float *out) {
    if (level >= 2) conv_direct512(s, image, weight, bias, out);
    else conv_direct256(s, image, weight, bias, out);
}

// MARK: Eight columns wide (conv2 of LeNet: 8×8 outputs), without im2col.
//
// im2col's column matrix for such a layer is [C·kh·kw, 8·out_h], and its row of tap (c, ky, kx)
// holds, for output row y, the eight floats image[c][y + ky][kx ..< kx + 8]: one unaligned load
// from the image. So W·col runs as dk_gemm_rowmajor_b's tiles with B's vectors of a tap loaded
// from the image instead of read from the columns, which are never written: AVX-512's (up to
// 12 output channels × 32 columns = 4 output rows, two rows to a vector) or AVX2's (6 × 16 =
// 2 output rows, one to a vector). Same products, same order: same bits.

// Output rows y and y + 1 of tap row q (q points at image[c][y + ky][kx]); the second only when
// `both` (a last output row has no partner).
static inline AVX512 __m512 two_rows(const float *q, ptrdiff_t width, int both) {
    __m256 first = _mm256_loadu_ps(q), second = both ? _mm256_loadu_ps(q + width) : _mm256_setzero_ps();
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(first)), _mm256_castps_pd(second), 1));
}

#define IMPLICIT8(MR)                                                                                    \
    static AVX512 void implicit8_##MR(const dk_conv_shape *s, const float *image, const float *weight,   \
                                      const float *bias, float *out, int o0, int y0, int rows) {         \
        const int taps = s->channels * s->kernel_h * s->kernel_w;                                        \
        const ptrdiff_t width = s->width;                                                                \
        __m512 lo[MR], hi[MR];                                                                           \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                                  \
            lo[r] = hi[r] = bias ? _mm512_set1_ps(bias[o0 + r]) : _mm512_setzero_ps();                   \
        const float *w = weight + (ptrdiff_t)o0 * taps;                                                  \
        FOR_EACH_TAP(s, image, y0, {                                                                     \
            __m512 b0 = two_rows(tap_row, width, rows >= 2);                                             \
            __m512 b1 = rows > 2 ? two_rows(tap_row + 2 * width, width, rows >= 4) : _mm512_setzero_ps(); \
            _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                            \
                __m512 x = _mm512_set1_ps(w[r * taps + p]);                                              \
                lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);                                                   \
                hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);                                                   \
            }                                                                                            \
        })                                                                                               \
        const __mmask16 m0 = rows >= 2 ? 0xFFFF : 0x00FF;                                                \
        const __mmask16 m1 = rows >= 4 ? 0xFFFF : rows == 3 ? 0x00FF : 0;                                \
        const ptrdiff_t area = (ptrdiff_t)s->out_h * 8;                                                  \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                \
            float *o = out + (o0 + r) * area + y0 * 8;                                                   \
            _mm512_mask_storeu_ps(o, m0, lo[r]);                                                         \
            _mm512_mask_storeu_ps(o + 16, m1, hi[r]);                                                    \
        }                                                                                                \
    }

IMPLICIT8(1) IMPLICIT8(2) IMPLICIT8(3) IMPLICIT8(4) IMPLICIT8(5) IMPLICIT8(6)
IMPLICIT8(7) IMPLICIT8(8) IMPLICIT8(9) IMPLICIT8(10) IMPLICIT8(11) IMPLICIT8(12)

typedef void (*implicit8_fn)(const dk_conv_shape *, const float *, const float *, const float *, float *, int, int, int);
static const implicit8_fn implicit8[13] = {0, implicit8_1, implicit8_2, implicit8_3, implicit8_4, implicit8_5, implicit8_6,
                                           implicit8_7, implicit8_8, implicit8_9, implicit8_10, implicit8_11, implicit8_12};

static AVX512 void implicit8_avx512(const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                                    float *out) {
    int tiles, rows_per_tile = tile_rows(s->outputs, 12, &tiles);  // 50 channels: 5 tiles of 10
    for (int y0 = 0; y0 < s->out_h; y0 += 4) {
        int rows = s->out_h - y0 < 4 ? s->out_h - y0 : 4;
        for (int o0 = 0; o0 < s->outputs; o0 += rows_per_tile) {
            int block = s->outputs - o0 < rows_per_tile ? s->outputs - o0 : rows_per_tile;
            implicit8[block](s, image, weight, bias, out, o0, y0, rows);
        }
    }
}

// AVX2: dk_gemm_rowmajor_b's AVX2 tiles, up to 6 output channels × 16 columns (2 output rows, one
// vector each, loaded straight from the image); 12 accumulators, 2 inputs and a broadcast.
#define IMPLICIT8_256(MR)                                                                                \
    static AVX2 void implicit8_256_##MR(const dk_conv_shape *s, const float *image, const float *weight, \
                                        const float *bias, float *out, int o0, int y0, int both) {       \
        const int taps = s->channels * s->kernel_h * s->kernel_w;                                        \
        const ptrdiff_t width = s->width;                                                                \
        __m256 lo[MR], hi[MR];                                                                           \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                                  \
            lo[r] = hi[r] = bias ? _mm256_set1_ps(bias[o0 + r]) : _mm256_setzero_ps();                   \
        const float *w = weight + (ptrdiff_t)o0 * taps;                                                  \
        FOR_EACH_TAP(s, image, y0, {                                                                     \
            __m256 b0 = _mm256_loadu_ps(tap_row);                                                        \
            __m256 b1 = both ? _mm256_loadu_ps(tap_row + width) : _mm256_setzero_ps();                   \
            _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                            \
                __m256 x = _mm256_broadcast_ss(w + r * taps + p);                                        \
                lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);                                                   \
                hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);                                                   \
            }                                                                                            \
        })                                                                                               \
        const ptrdiff_t area = (ptrdiff_t)s->out_h * 8;                                                  \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                                \
            float *o = out + (o0 + r) * area + y0 * 8;                                                   \
            _mm256_storeu_ps(o, lo[r]);                                                                  \
            if (both) _mm256_storeu_ps(o + 8, hi[r]);                                                    \
        }                                                                                                \
    }

IMPLICIT8_256(1) IMPLICIT8_256(2) IMPLICIT8_256(3) IMPLICIT8_256(4) IMPLICIT8_256(5) IMPLICIT8_256(6)

static const implicit8_fn implicit8_256[7] = {0, implicit8_256_1, implicit8_256_2, implicit8_256_3,
                                              implicit8_256_4, implicit8_256_5, implicit8_256_6};

static AVX2 void implicit8_avx2(const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                                float *out) {
    int tiles, rows_per_tile = tile_rows(s->outputs, 6, &tiles);
    for (int y0 = 0; y0 < s->out_h; y0 += 2)
        for (int o0 = 0; o0 < s->outputs; o0 += rows_per_tile) {
            int block = s->outputs - o0 < rows_per_tile ? s->outputs - o0 : rows_per_tile;
            implicit8_256[block](s, image, weight, bias, out, o0, y0, y0 + 1 < s->out_h);
        }
}

void dk_conv_implicit8(int level, const dk_conv_shape *s, const float *image, const float *weight, const float *bias,
                       float *out) {
    if (level >= 2) implicit8_avx512(s, image, weight, bias, out);
    else implicit8_avx2(s, image, weight, bias, out);
}

// MARK: im2row, for the weight gradient

// Row p = (oy, ox) of the output is the patch under that output, (c, ky, kx) in order: runs of
// kernel_w floats from the image. Masked stores took most of the time on AMD's cores, so a run
// is stored whole (8 floats for a run of at most 8, else 16 at a time) wherever that stays
// inside the row: what spills past the run lands where the row's next runs go, which are
// written after it. Near the row's end the store is masked, so nothing outside the row is
// written. A whole store's floats come from a plain load (masked loads are slow on AMD's cores
// as well: 3.8 → 3.0 µs per conv2 image, one thread), which stays inside the image: with R
// runs from this one to the row's end and a vector of V ≤ R·kw floats, the image holds at
// least R·w floats from the run's start (each later run starts a later image row), and the
// load ends by ox + V ≤ (w − kw) + R·kw ≤ R·w. For one output row the loop takes each run
// (c, ky) in turn for all out_w positions, so that the decision is made once per run and the
// inner loop has fixed strides. Against masked stores in (ox, c, ky) order, one thread, 64
// images: conv1 374 → 138 µs, conv2 784 → 378 µs.

// Copies `floats` (≤ 16) floats from src + ox to dst + ox·ldrows for ox < count, whole or masked.
static inline AVX512 void copy_runs(const float *src, float *dst, ptrdiff_t ldrows, int count, int floats, int whole) {
    if (!whole) {
        const __mmask16 mask = lanes512(floats);
        for (int ox = 0; ox < count; ox++, dst += ldrows) _mm512_mask_storeu_ps(dst, mask, _mm512_maskz_loadu_ps(mask, src + ox));
    } else if (floats <= 8) {
        for (int ox = 0; ox < count; ox++, dst += ldrows) _mm256_storeu_ps(dst, _mm256_loadu_ps(src + ox));
    } else {
        for (int ox = 0; ox < count; ox++, dst += ldrows) _mm512_storeu_ps(dst, _mm512_loadu_ps(src + ox));
    }
}

AVX512 void dk_im2row(const dk_conv_shape *s, const float *image, float *rows, ptrdiff_t ldrows) {
    const int kw = s->kernel_w, runs = s->channels * s->kernel_h;
    for (int oy = 0; oy < s->out_h; oy++) {
        float *row0 = rows + (ptrdiff_t)oy * s->out_w * ldrows;
        for (int run = 0; run < runs; run++) {
            const int c = run / s->kernel_h, ky = run % s->kernel_h;
            const float *src = image + ((ptrdiff_t)c * s->height + oy + ky) * s->width;
            // Floats from this run's start to the row's end.
            const int room = (runs - run) * kw;
            if (kw <= 8) {  // without the loop over kx: folding this case into it cost conv2 8%
                copy_runs(src, row0 + run * kw, ldrows, s->out_w, kw, room >= 8);
                continue;
            }
            for (int kx = 0; kx < kw; kx += 16) {
                const int left = kw - kx;
                copy_runs(src + kx, row0 + run * kw + kx, ldrows, s->out_w, left < 16 ? left : 16, room - kx >= 16);
            }
        }
    }
}

// MARK: col2im, for the input gradient

// The adjoint of im2col for rows of at most 16 (width ≤ 16): image row y of channel c is
// Σ over (ky, kx) of column row (c, ky, kx) at output row y − ky, shifted right by kx. Each
// image row is one vector, loaded (or zero) once, added to under a mask that covers only the
// shifted output row (so that lanes outside it keep their bits, −0 included), in (ky, kx)
// order: each element sums the same terms in the same order as Im2col.col2im's row additions,
// which run over the column rows in order. A row's sum is a chain of dependent additions, so
// the rows of COL2IM_CHANNELS channels are summed side by side to keep the adders busy (one
// at a time, it was hardly faster than the Swift loop: docs/PERFORMANCE.md).
enum { COL2IM_CHANNELS = 4 };

// sum + src's `ow` floats moved to lanes kx … kx + ow − 1 (`from`: lane i takes i − kx), added
// in the lanes of `lanes` only.
static inline AVX512 __m512 add_shifted(__m512 sum, __mmask16 lanes, __m512i from, const float *src, int ow) {
    return _mm512_mask_add_ps(sum, lanes, sum, _mm512_permutexvar_ps(from, load_lanes(src, ow)));
}

AVX512 void dk_col2im16(const dk_conv_shape *s, const float *col, ptrdiff_t ldcol, float *image, int accumulate) {
    const int ow = s->out_w, w = s->width;
    const ptrdiff_t plane = (ptrdiff_t)s->height * w, channel_rows = (ptrdiff_t)s->kernel_h * s->kernel_w * ldcol;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int c0 = 0; c0 < s->channels; c0 += COL2IM_CHANNELS) {
        const int channels = s->channels - c0 < COL2IM_CHANNELS ? s->channels - c0 : COL2IM_CHANNELS;
        for (int y = 0; y < s->height; y++) {
            float *dst = image + c0 * plane + (ptrdiff_t)y * w;
            __m512 sum[COL2IM_CHANNELS];
            for (int j = 0; j < channels; j++) sum[j] = accumulate ? load_lanes(dst + j * plane, w) : _mm512_setzero_ps();
            // Kernel rows whose output row y − ky exists.
            const int first = y - s->out_h + 1 > 0 ? y - s->out_h + 1 : 0, last = y < s->kernel_h - 1 ? y : s->kernel_h - 1;
            for (int ky = first; ky <= last; ky++) {
                const float *src = col + c0 * channel_rows + (ptrdiff_t)ky * s->kernel_w * ldcol + (ptrdiff_t)(y - ky) * ow;
                for (int kx = 0; kx < s->kernel_w; kx++, src += ldcol) {
                    const __m512i from = _mm512_sub_epi32(iota, _mm512_set1_epi32(kx));
                    const __mmask16 lanes = (__mmask16)(lanes512(ow) << kx);
                    if (channels == COL2IM_CHANNELS) {  // unrolled, so that the sums stay in registers
                        _Pragma("clang loop unroll(full)") for (int j = 0; j < COL2IM_CHANNELS; j++)
                            sum[j] = add_shifted(sum[j], lanes, from, src + j * channel_rows, ow);
                    } else {
                        for (int j = 0; j < channels; j++) sum[j] = add_shifted(sum[j], lanes, from, src + j * channel_rows, ow);
                    }
                }
            }
            for (int j = 0; j < channels; j++) store_lanes(dst + j * plane, w, sum[j]);
        }
    }
}
