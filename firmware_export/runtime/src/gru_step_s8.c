/* edgelstm runtime: one int8 GRU layer, one timestep (see el_gru_s8.h for the math and layout).
 *
 * Three dot-product paths over the same weight arrays, chosen by the compiler's feature macros:
 *   __ARM_FEATURE_MVE  (Cortex-M55/M85)      VMLADAVA.S8 on 16 columns of a gathered row
 *   __ARM_FEATURE_DSP  (Cortex-M4/M7/M33)    SXTB16 + SMLAD, 4 rows per pass; x and h widened to
 *                                            2x in int16 once per step (the sums come out doubled)
 *   otherwise          (Cortex-M0+/M3, host) plain C
 * Every path computes v = 2 * (bias + sum w x) exactly in int32 (the generator bounds the sums),
 * and the elementwise part is shared, so every path computes the same integers. */
#include <stddef.h>
#include <string.h>

#include "el_gru_s8.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define EL_GRU_MVE 1
#elif defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
#include <arm_acle.h>
#define EL_GRU_DSP 1
#endif

#if defined(__GNUC__)
#define EL_GRU_INLINE static inline __attribute__((always_inline))
#else
#define EL_GRU_INLINE static inline
#endif

/* ---- dot products of a group of g <= 4 rows: v[r] += 2 * sum_i w_r[i] * x[i] -------------------
 * w: the group's rows interleaved per 4 columns (g words per chunk); x: int8 [cols]; xe: x widened
 * (DSP path); chunks: columns rounded up to a multiple of 4, over 4. */

#if defined(EL_GRU_MVE)

/* 16 columns per step: each row's 4 words (4 g bytes apart) in one gather load; whole blocks of 16
 * columns unpredicated, the last partial one (if any) with tail predication */
#define EL_GRU_MVE_BLOCK(LDX, LDW)                                                                    \
    do {                                                                                             \
        const int8x16_t xv = LDX;                                                                    \
        const int32_t *w32 = (const int32_t *)(const void *)w;                                       \
        a0 = vmladavaq_s8(a0, xv, vreinterpretq_s8_s32(LDW(w32)));                                   \
        if (g > 1) {                                                                                 \
            a1 = vmladavaq_s8(a1, xv, vreinterpretq_s8_s32(LDW(w32 + 1)));                           \
        }                                                                                            \
        if (g > 2) {                                                                                 \
            a2 = vmladavaq_s8(a2, xv, vreinterpretq_s8_s32(LDW(w32 + 2)));                           \
        }                                                                                            \
        if (g > 3) {                                                                                 \
            a3 = vmladavaq_s8(a3, xv, vreinterpretq_s8_s32(LDW(w32 + 3)));                           \
        }                                                                                            \
    } while (0)

EL_GRU_INLINE void el_gru_dot(const int8_t *w, const int8_t *x, const int32_t *xe, int32_t cols, int32_t chunks,
                              int32_t g, int32_t *v)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)(4 * g));
    const int32_t full = cols / 16;   /* blocks of 16 real columns (their 4 chunks are all there) */
    (void)xe;
    for (int32_t b = 0; b < full; ++b, x += 16, w += 16 * g) {
#define EL_GRU_LDW(p) vldrwq_gather_offset_s32(p, offs)
        EL_GRU_MVE_BLOCK(vldrbq_s8(x), EL_GRU_LDW);
#undef EL_GRU_LDW
    }
    if (4 * full < chunks) {
        const mve_pred16_t pw = vctp32q((uint32_t)(chunks - 4 * full));
#define EL_GRU_LDW(p) vldrwq_gather_offset_z_s32(p, offs, pw)
        EL_GRU_MVE_BLOCK(vldrbq_z_s8(x, vctp8q((uint32_t)(cols - 16 * full))), EL_GRU_LDW);
#undef EL_GRU_LDW
    }
    v[0] += 2 * a0;
    if (g > 1) {
        v[1] += 2 * a1;
    }
    if (g > 2) {
        v[2] += 2 * a2;
    }
    if (g > 3) {
        v[3] += 2 * a3;
    }
}

#elif defined(EL_GRU_DSP)

EL_GRU_INLINE int32_t el_gru_sx0(uint32_t w)   /* bytes 0 and 2, sign-extended to int16 */
{
    return (int32_t)__sxtb16((int32_t)w);
}

EL_GRU_INLINE int32_t el_gru_sx1(uint32_t w)   /* bytes 1 and 3 */
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* int8 v[cols] -> 2 * v as int16 pairs per 4 columns: (v0, v2), (v1, v3), the order SXTB16 gives
 * the weights; columns past cols are zero. */
static void el_gru_widen(const int8_t *v, int32_t cols, int32_t chunks, int32_t *ve)
{
    for (int32_t k = 0; k < chunks; ++k) {
        uint32_t w = 0;
        memcpy(&w, v + 4 * k, (size_t)(cols - 4 * k < 4 ? cols - 4 * k : 4));
        const int32_t lo = el_gru_sx0(w), hi = el_gru_sx1(w);
        ve[2 * k] = (int32_t)__sadd16(lo, lo);
        ve[2 * k + 1] = (int32_t)__sadd16(hi, hi);
    }
}

/* Loads with post-increment (gcc does not use them here by itself): the weights are 4-byte aligned
 * (the generator aligns the arrays), the widened vector is int32. */
#define EL_GRU_LDRD(a, b, p, inc) \
    __asm__("ldrd %0, %1, [%2], %3" : "=&r"(a), "=&r"(b), "+r"(p) : "I"(inc) : "memory")
#define EL_GRU_LDR(a, p, inc) __asm__("ldr %0, [%1], %2" : "=&r"(a), "+r"(p) : "I"(inc) : "memory")

#define EL_GRU_MAC4(acc, wword, xa, xb)                              \
    do {                                                             \
        const uint32_t w_ = (wword);                                 \
        acc = __smlad(xa, el_gru_sx0(w_), acc);                      \
        acc = __smlad(xb, el_gru_sx1(w_), acc);                      \
    } while (0)

/* one chunk (4 columns) of 4, 3, 2 or 1 rows: 4 rows take 1 + 2 loads, 8 SXTB16 and 8 SMLAD for 16 MACs */
#define EL_GRU_CHUNK4                                                \
    do {                                                             \
        int32_t xa, xb;                                              \
        uint32_t w0, w1;                                             \
        EL_GRU_LDRD(xa, xb, xe, 8);                                  \
        EL_GRU_LDRD(w0, w1, w, 8);                                   \
        EL_GRU_MAC4(a0, w0, xa, xb);                                 \
        EL_GRU_MAC4(a1, w1, xa, xb);                                 \
        EL_GRU_LDRD(w0, w1, w, 8);                                   \
        EL_GRU_MAC4(a2, w0, xa, xb);                                 \
        EL_GRU_MAC4(a3, w1, xa, xb);                                 \
    } while (0)
#define EL_GRU_CHUNK3                                                \
    do {                                                             \
        int32_t xa, xb;                                              \
        uint32_t w0, w1, w2;                                         \
        EL_GRU_LDRD(xa, xb, xe, 8);                                  \
        EL_GRU_LDRD(w0, w1, w, 8);                                   \
        EL_GRU_LDR(w2, w, 4);                                        \
        EL_GRU_MAC4(a0, w0, xa, xb);                                 \
        EL_GRU_MAC4(a1, w1, xa, xb);                                 \
        EL_GRU_MAC4(a2, w2, xa, xb);                                 \
    } while (0)
#define EL_GRU_CHUNK2                                                \
    do {                                                             \
        int32_t xa, xb;                                              \
        uint32_t w0, w1;                                             \
        EL_GRU_LDRD(xa, xb, xe, 8);                                  \
        EL_GRU_LDRD(w0, w1, w, 8);                                   \
        EL_GRU_MAC4(a0, w0, xa, xb);                                 \
        EL_GRU_MAC4(a1, w1, xa, xb);                                 \
    } while (0)
#define EL_GRU_CHUNK1                                                \
    do {                                                             \
        int32_t xa, xb;                                              \
        uint32_t w0;                                                 \
        EL_GRU_LDRD(xa, xb, xe, 8);                                  \
        EL_GRU_LDR(w0, w, 4);                                        \
        EL_GRU_MAC4(a0, w0, xa, xb);                                 \
    } while (0)

/* chunks >= 1 chunks, unrolled by 4 (Duff's device: the first pass runs chunks % 4 of them) */
#define EL_GRU_DUFF(CHUNK)                                           \
    do {                                                             \
        int32_t iters_ = (chunks + 3) >> 2;                          \
        switch (chunks & 3) {                                        \
        case 0:                                                      \
            do {                                                     \
                CHUNK;                                               \
                /* fall through */                                   \
        case 3:                                                      \
                CHUNK;                                               \
                /* fall through */                                   \
        case 2:                                                      \
                CHUNK;                                               \
                /* fall through */                                   \
        case 1:                                                      \
                CHUNK;                                               \
            } while (--iters_ > 0);                                  \
        }                                                            \
    } while (0)

/* the last group of an FC part: 1 to 3 rows (groups of 4: el_gru_dot4) */
EL_GRU_INLINE void el_gru_dot(const int8_t *w, const int8_t *x, const int32_t *xe, int32_t cols, int32_t chunks,
                              int32_t g, int32_t *v)
{
    (void)x;
    (void)cols;
    if (g == 3) {
        int32_t a0 = v[0], a1 = v[1], a2 = v[2];
        EL_GRU_DUFF(EL_GRU_CHUNK3);
        v[0] = a0;
        v[1] = a1;
        v[2] = a2;
    } else if (g == 2) {
        int32_t a0 = v[0], a1 = v[1];
        EL_GRU_DUFF(EL_GRU_CHUNK2);
        v[0] = a0;
        v[1] = a1;
    } else {
        int32_t a0 = v[0];
        EL_GRU_DUFF(EL_GRU_CHUNK1);
        v[0] = a0;
    }
}

/* 4 rows, chunks = 4 blocks + rem with rem a constant: the caller picks the copy once per FC part,
 * so no group pays for a dispatch */
EL_GRU_INLINE void el_gru_dot4(const int8_t *w, const int32_t *xe, int32_t blocks, int32_t rem, int32_t *v)
{
    int32_t a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3];
    for (int32_t b = blocks; b > 0; --b) {
        EL_GRU_CHUNK4;
        EL_GRU_CHUNK4;
        EL_GRU_CHUNK4;
        EL_GRU_CHUNK4;
    }
    if (rem > 0) {
        EL_GRU_CHUNK4;
    }
    if (rem > 1) {
        EL_GRU_CHUNK4;
    }
    if (rem > 2) {
        EL_GRU_CHUNK4;
    }
    v[0] = a0;
    v[1] = a1;
    v[2] = a2;
    v[3] = a3;
}

#else /* plain C */

#define EL_GRU_ROW4(acc, wr) (acc += x0 * (wr)[0] + x1 * (wr)[1] + x2 * (wr)[2] + x3 * (wr)[3])

EL_GRU_INLINE void el_gru_dot(const int8_t *w, const int8_t *x, const int32_t *xe, int32_t cols, int32_t chunks,
                              int32_t g, int32_t *v)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const int32_t full = cols / 4;   /* chunks with 4 real columns; a last one may have 1 to 3 */
    (void)xe;
    for (int32_t k = 0; k < full; ++k, x += 4, w += 4 * g) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        EL_GRU_ROW4(a0, w);
        if (g > 1) {
            EL_GRU_ROW4(a1, w + 4);
        }
        if (g > 2) {
            EL_GRU_ROW4(a2, w + 8);
        }
        if (g > 3) {
            EL_GRU_ROW4(a3, w + 12);
        }
    }
    if (full < chunks) {   /* the weights past cols are zero: read x only up to cols */
        const int32_t n = cols - 4 * full;
        const int32_t x0 = x[0], x1 = n > 1 ? x[1] : 0, x2 = n > 2 ? x[2] : 0, x3 = 0;
        EL_GRU_ROW4(a0, w);
        if (g > 1) {
            EL_GRU_ROW4(a1, w + 4);
        }
        if (g > 2) {
            EL_GRU_ROW4(a2, w + 8);
        }
        if (g > 3) {
            EL_GRU_ROW4(a3, w + 12);
        }
    }
    v[0] += 2 * a0;
    if (g > 1) {
        v[1] += 2 * a1;
    }
    if (g > 2) {
        v[2] += 2 * a2;
    }
    if (g > 3) {
        v[3] += 2 * a3;
    }
}

#endif

/* The operands of one FC part (few arguments: all in registers on every ABI) */
typedef struct {
    const int8_t *w;
    const int32_t *bias2;
    const el_gru_rq_t *rq;
    int32_t n;                 /* rows */
    const int8_t *x;
    const int32_t *xe;
    int32_t cols, chunks;
} el_gru_fc_t;

/* The groups of 4 rows of an FC part; rem = chunks % 4 (a constant in the DSP path) */
EL_GRU_INLINE void el_gru_groups(const int8_t *w, const int32_t *bias2, const el_gru_rq_t *rq, int8_t *out,
                                 const int8_t *end, const int8_t *x, const int32_t *xe, int32_t cols, int32_t chunks,
                                 int32_t rem)
{
    for (; out != end; out += 4, bias2 += 4, rq += 4, w += 16 * chunks) {
        int32_t v[4] = {bias2[0], bias2[1], bias2[2], bias2[3]};
#if defined(EL_GRU_DSP)
        (void)x;
        (void)cols;
        el_gru_dot4(w, xe, chunks >> 2, rem, v);
#else
        (void)rem;
        el_gru_dot(w, x, xe, cols, chunks, 4, v);
#endif
        out[0] = (int8_t)el_gru_requantize(v[0], &rq[0]);
        out[1] = (int8_t)el_gru_requantize(v[1], &rq[1]);
        out[2] = (int8_t)el_gru_requantize(v[2], &rq[2]);
        out[3] = (int8_t)el_gru_requantize(v[3], &rq[3]);
    }
}

/* n FC rows over x (cols columns), in groups of 4 rows, requantized to int8: out[r] */
static void el_gru_fc(const el_gru_fc_t *a, int8_t *out)
{
    const int8_t *w = a->w, *const x = a->x;
    const int32_t *bias2 = a->bias2;
    const el_gru_rq_t *rq = a->rq;
    const int32_t *const xe = a->xe;
    const int32_t n = a->n, cols = a->cols, chunks = a->chunks;
    const int8_t *const end = out + (n & ~3);
#if defined(EL_GRU_DSP)
    switch (chunks & 3) {
    case 0:
        el_gru_groups(w, bias2, rq, out, end, x, xe, cols, chunks, 0);
        break;
    case 1:
        el_gru_groups(w, bias2, rq, out, end, x, xe, cols, chunks, 1);
        break;
    case 2:
        el_gru_groups(w, bias2, rq, out, end, x, xe, cols, chunks, 2);
        break;
    default:
        el_gru_groups(w, bias2, rq, out, end, x, xe, cols, chunks, 3);
        break;
    }
#else
    el_gru_groups(w, bias2, rq, out, end, x, xe, cols, chunks, 0);
#endif
    w += (n >> 2) * 16 * chunks;
    bias2 += n & ~3;
    rq += n & ~3;
    out += n & ~3;
    switch (n & 3) {   /* the last group: 1 to 3 rows */
    case 3: {
        int32_t v[3] = {bias2[0], bias2[1], bias2[2]};
        el_gru_dot(w, x, xe, cols, chunks, 3, v);
        out[0] = (int8_t)el_gru_requantize(v[0], &rq[0]);
        out[1] = (int8_t)el_gru_requantize(v[1], &rq[1]);
        out[2] = (int8_t)el_gru_requantize(v[2], &rq[2]);
        break;
    }
    case 2: {
        int32_t v[2] = {bias2[0], bias2[1]};
        el_gru_dot(w, x, xe, cols, chunks, 2, v);
        out[0] = (int8_t)el_gru_requantize(v[0], &rq[0]);
        out[1] = (int8_t)el_gru_requantize(v[1], &rq[1]);
        break;
    }
    case 1: {
        int32_t v[1] = {bias2[0]};
        el_gru_dot(w, x, xe, cols, chunks, 1, v);
        out[0] = (int8_t)el_gru_requantize(v[0], &rq[0]);
        break;
    }
    default:
        break;
    }
}

/* The layer's elementwise ops. With the DSP extension (and gcc), each op's constants come in two
 * LDRDs at [p, #offset] (its two table pointers, or gate table and offset; then mult and k): gcc
 * loads them one by one, and through spilled addresses when they are asm memory operands. */
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
#define EL_GRU_PAIR(a, b, P, OFF) __asm__("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(b) : "r"(P), "n"(OFF))
#define EL_GRU_RQ_AT(v, P, OP)                                                                         \
    __extension__({                                                                                    \
        int32_t m_, k_;                                                                                \
        EL_GRU_PAIR(m_, k_, P, offsetof(el_gru_s8_t, OP.rq.mult));                                     \
        el_gru_sat8(el_gru_smmlar(v, m_, k_ + ((v) >> 31)) >> (P)->OP.rq.rsh);                         \
    })
#define EL_GRU_ADDSUB(P, OP, A, SIGN, B)                                                               \
    __extension__({                                                                                    \
        const int32_t *ta_, *tb_;                                                                      \
        EL_GRU_PAIR(ta_, tb_, P, offsetof(el_gru_s8_t, OP.t_a));                                       \
        const int32_t v_ = ta_[A] SIGN tb_[B];                                                         \
        EL_GRU_RQ_AT(v_, P, OP);                                                                       \
    })
#define EL_GRU_ADD(P, OP, A, B) EL_GRU_ADDSUB(P, OP, A, +, B)
#define EL_GRU_SUB(P, OP, A, B) EL_GRU_ADDSUB(P, OP, A, -, B)
#define EL_GRU_MUL(P, OP, G, B)                                                                        \
    __extension__({                                                                                    \
        const int16_t *tg_;                                                                            \
        int32_t off_;                                                                                  \
        EL_GRU_PAIR(tg_, off_, P, offsetof(el_gru_s8_t, OP.t_gate));                                   \
        const int32_t v_ = (int32_t)tg_[G] * ((B) + off_);                                             \
        EL_GRU_RQ_AT(v_, P, OP);                                                                       \
    })
#else
#define EL_GRU_ADD(P, OP, A, B) el_gru_add(A, B, &(P)->OP)
#define EL_GRU_SUB(P, OP, A, B) el_gru_sub(A, B, &(P)->OP)
#define EL_GRU_MUL(P, OP, G, B) el_gru_mul(G, B, &(P)->OP)
#endif

/* n = TANH(candidate.pre) folded into the tables, then h_out = ADD(n, MUL(z, SUB(h, n))) */
EL_GRU_INLINE int32_t el_gru_update(const el_gru_s8_t *p, int32_t npre, int32_t zpre, int32_t h)
{
    const int32_t hn = EL_GRU_SUB(p, sub_hn, h, npre);
    const int32_t zhn = EL_GRU_MUL(p, mul_z, zpre, hn);
    return EL_GRU_ADD(p, add_h, npre, zhn);
}

void gru_step_s8(const el_gru_s8_t *p, const int8_t *x, const int8_t *h, int8_t *h_out, int32_t *work)
{
    const int32_t units = p->units, xc = p->x_cols, hc = p->h_cols;
    /* work: [x widened: 2 xc bytes][h or q widened: 2 hc][q: hc][x FCs: 3 units][h FCs: 3 units][update.pre: units] */
    int32_t *xe = work, *he = work + xc / 2;
    int8_t *q = (int8_t *)(he + hc / 2);
    int8_t *const fx = q + hc, *const fh = fx + 3 * units, *const zpre = fh + 3 * units;
#if defined(EL_GRU_DSP)
    el_gru_widen(x, p->input_size, xc / 4, xe);
    el_gru_widen(h, units, hc / 4, he);
#endif
    /* 1. the gate FCs: fx = [zx rx nx] per unit, fh = [zh rh nh] (reset_after) or [zh rh] */
    const el_gru_fc_t fc_x = {p->w_x, p->bias2, p->rq, 3 * units, x, xe, p->input_size, xc / 4};
    el_gru_fc(&fc_x, fx);
    const el_gru_fc_t fc_h = {p->w_h, p->bias2 + 3 * units, p->rq + 3 * units, (p->reset_after ? 3 : 2) * units, h, he,
                              units, hc / 4};
    el_gru_fc(&fc_h, fh);
    /* 2. the gates, elementwise */
    if (p->reset_after) {
        const int8_t *a = fx, *b = fh;
        for (int32_t j = 0; j < units; ++j, a += 3, b += 3) {
            const int32_t z = EL_GRU_ADD(p, add_z, a[0], b[0]);
            const int32_t r = EL_GRU_ADD(p, add_r, a[1], b[1]);
            const int32_t rnh = EL_GRU_MUL(p, mul_r, r, b[2]);
            const int32_t n = EL_GRU_ADD(p, add_n, a[2], rnh);
            h_out[j] = (int8_t)el_gru_update(p, n, z, h[j]);
        }
        return;
    }
    /* reset_after = 0: q = MUL(r, h) for every unit first; the candidate's recurrent FC reads all of q */
    const int8_t *a = fx, *b = fh;
    for (int32_t j = 0; j < units; ++j, a += 3, b += 2) {
        zpre[j] = (int8_t)EL_GRU_ADD(p, add_z, a[0], b[0]);
        const int32_t r = EL_GRU_ADD(p, add_r, a[1], b[1]);
        q[j] = (int8_t)EL_GRU_MUL(p, mul_r, r, h[j]);
    }
#if defined(EL_GRU_DSP)
    el_gru_widen(q, units, hc / 4, he);
#endif
    int8_t *const nh = fh;   /* the [zh rh] outputs are read: reuse their bytes */
    const el_gru_fc_t fc_n = {p->w_h + 2 * units * hc, p->bias2 + 5 * units, p->rq + 5 * units, units, q, he, units,
                              hc / 4};
    el_gru_fc(&fc_n, nh);
    a = fx;
    for (int32_t j = 0; j < units; ++j, a += 3) {
        const int32_t n = EL_GRU_ADD(p, add_n, a[2], nh[j]);
        h_out[j] = (int8_t)el_gru_update(p, n, zpre[j], h[j]);
    }
}
