/* edgelstm runtime: one timestep of an int8 LSTM layer, bit-exact with TFLite Micro.
 *
 * One pass over the units: for each unit the four gate rows (stored next to each other, see
 * el_lstm_s8.h) are multiplied with x and with the old h, then the unit's gates, cell and hidden
 * value are finished (el_lstm_s8_internal.h). x and the old h are first staged in scratch (the
 * new h is written in place). Three paths, selected by the compiler's feature macros, compute
 * the same integers:
 *   MVE (__ARM_FEATURE_MVE): per unit, VLD4 deinterleaves 16 columns of the 4 rows and 4
 *     VMLADAV.S8 accumulate them against 16 inputs; the gates, cells and hidden values of 4 units
 *     at a time in vector lanes (el_lstm_s8_unit_x4).
 *   DSP (__ARM_FEATURE_DSP): x and h unpacked once into int16 pairs, SXTB16/SMLAD over the
 *     weight words (dot4_pairs), one unit at a time (el_lstm_s8_unit).
 *   plain C otherwise. */
#include <string.h>

#include "el_lstm_s8_internal.h"

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#endif

#if !defined(__ARM_FEATURE_MVE)
/* The EXACT mode's unit update, out of line: it is for pathological layers only */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void unit_exact(const el_lstm_s8_t *p, const el_lstm_s8_step_t *k, const int32_t *acc, int16_t *c, int8_t *h)
{
    el_lstm_s8_unit(p, k, acc, EL_LSTM_S8_MODE_EXACT, c, h);
}
#endif

#if defined(__ARM_FEATURE_MVE)
/* v (n int8) into dst, zero padded to a multiple of 16 bytes */
static int8_t *stage_s8_16(int8_t *dst, const int8_t *v, int32_t n)
{
    int8_t *d = dst;
    for (int32_t left = n; left > 0; left -= 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)left);
        vstrbq_s8(d, vldrbq_z_s8(v, pr)); /* inactive lanes load 0 */
        v += 16;
        d += 16;
    }
    return dst;
}

/* The 4 gate rows of a unit (w: passes x 16 words, VLD4 puts row r's 16 bytes in val[r]) times
 * the staged v: s[0], s[4], s[8], s[12] */
EL_LSTM_INLINE void mve_dot4(int32_t *s, const int32_t *w, const int8_t *v, int32_t passes)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int32_t i = passes; i > 0; --i) {
        const int8x16_t x = vldrbq_s8(v);
        const int32x4x4_t r = vld4q_s32(w);
        v += 16;
        w += 16;
        s0 = vmladavaq_s8(s0, vreinterpretq_s8_s32(r.val[0]), x);
        s1 = vmladavaq_s8(s1, vreinterpretq_s8_s32(r.val[1]), x);
        s2 = vmladavaq_s8(s2, vreinterpretq_s8_s32(r.val[2]), x);
        s3 = vmladavaq_s8(s3, vreinterpretq_s8_s32(r.val[3]), x);
    }
    s[0] = s0, s[4] = s1, s[8] = s2, s[12] = s3;
}
#elif defined(__ARM_FEATURE_DSP)
/* v (n int8) into int16 pairs: per 4 values v0..v3 the words (v0, v2) and (v1, v3), times 2 when
 * dbl; zero padded to a multiple of 4 values */
static void stage_s16_pairs(uint32_t *dst, const int8_t *v, int32_t n, int32_t dbl)
{
    for (int32_t j = 0; j < n; j += 4) {
        uint32_t w = 0;
        if (n - j >= 4) {
            memcpy(&w, v + j, 4);
        } else {
            for (int32_t b = 0; b < n - j; ++b) {
                w |= (uint32_t)(uint8_t)v[j + b] << (8 * b);
            }
        }
        uint32_t even = __sxtb16(w);
#if defined(__GNUC__)
        uint32_t odd;
        __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(w)); /* gcc 12: no __ror to fold */
#else
        uint32_t odd = __sxtb16(__ror(w, 8));
#endif
        if (dbl) {
            even = __sadd16(even, even);
            odd = __sadd16(odd, odd);
        }
        *dst++ = even;
        *dst++ = odd;
    }
}

#if defined(__GNUC__)
/* One group of 4 columns of the 4 gate rows of a unit (4 weight words, post-incremented w),
 * against the staged pairs (v0, v2), (v1, v3) (post-incremented v): each weight word unpacked
 * into (w0, w2) and (w1, w3) by SXTB16 and SXTB16 ROR 8, two SMLAD. 19 instructions for 16
 * MACs. Written as assembly because gcc 12 has no SXTB16-with-rotate intrinsic and, given the
 * intrinsics, schedules the loads early enough to spill the accumulators. */
#define EL_DOT4_GROUP                          \
    "ldrd   %[ve], %[vo], [%[v]], #8\n\t"      \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"      \
    "sxtb16 %[t], %[w0]\n\t"                   \
    "smlad  %[a0], %[t], %[ve], %[a0]\n\t"     \
    "sxtb16 %[t], %[w0], ror #8\n\t"           \
    "smlad  %[a0], %[t], %[vo], %[a0]\n\t"     \
    "sxtb16 %[t], %[w1]\n\t"                   \
    "smlad  %[a1], %[t], %[ve], %[a1]\n\t"     \
    "sxtb16 %[t], %[w1], ror #8\n\t"           \
    "smlad  %[a1], %[t], %[vo], %[a1]\n\t"     \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"      \
    "sxtb16 %[t], %[w0]\n\t"                   \
    "smlad  %[a2], %[t], %[ve], %[a2]\n\t"     \
    "sxtb16 %[t], %[w0], ror #8\n\t"           \
    "smlad  %[a2], %[t], %[vo], %[a2]\n\t"     \
    "sxtb16 %[t], %[w1]\n\t"                   \
    "smlad  %[a3], %[t], %[ve], %[a3]\n\t"     \
    "sxtb16 %[t], %[w1], ror #8\n\t"           \
    "smlad  %[a3], %[t], %[vo], %[a3]\n\t"
#define EL_DOT4_OPERANDS                                                                             \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [v] "+r"(v),            \
        [ve] "=&r"(ve), [vo] "=&r"(vo), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
#endif

/* acc[0..3] = bias[0..3] + the 4 gate rows of a unit (groups groups of 4 columns from w) times
 * the staged pairs v; returns w past the unit's rows */
EL_LSTM_INLINE const uint32_t *dot4_pairs(int32_t *acc, const int32_t *bias, const uint32_t *w, const uint32_t *v,
                                          int32_t groups)
{
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
#if defined(__GNUC__)
    uint32_t ve, vo, w0, w1, t;
    int32_t pairs = groups >> 1;
    if (pairs > 0) {
        __asm__("1:\n\t" EL_DOT4_GROUP EL_DOT4_GROUP
                "subs   %[n], %[n], #1\n\t"
                "bne    1b\n\t"
                : EL_DOT4_OPERANDS, [n] "+r"(pairs)
                :
                : "cc", "memory");
    }
    if (groups & 1) {
        __asm__(EL_DOT4_GROUP : EL_DOT4_OPERANDS : : "memory");
    }
#else
    for (int32_t j = groups; j > 0; --j) {
        const uint32_t ve = v[0], vo = v[1];
        a0 = __smlad(__sxtb16(w[0]), ve, a0);
        a0 = __smlad(__sxtb16(__ror(w[0], 8)), vo, a0);
        a1 = __smlad(__sxtb16(w[1]), ve, a1);
        a1 = __smlad(__sxtb16(__ror(w[1], 8)), vo, a1);
        a2 = __smlad(__sxtb16(w[2]), ve, a2);
        a2 = __smlad(__sxtb16(__ror(w[2], 8)), vo, a2);
        a3 = __smlad(__sxtb16(w[3]), ve, a3);
        a3 = __smlad(__sxtb16(__ror(w[3], 8)), vo, a3);
        w += 4;
        v += 2;
    }
#endif
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    return w;
}

/* Every unit: its 4 gate rows times the staged x and h, then el_lstm_s8_unit */
EL_LSTM_INLINE void dsp_units(const el_lstm_s8_t *p, const el_lstm_s8_step_t *k, const uint32_t *xs,
                              const uint32_t *hs, int16_t *c, int8_t *h, int32_t mode)
{
    const int32_t gx = EL_LSTM_S8_PAD4(p->input_size) / 4;
    const int32_t gh = EL_LSTM_S8_PAD4(p->units) / 4;
    const uint32_t *w = (const uint32_t *)p->w_x;
    const uint32_t *wr = (const uint32_t *)p->w_h;
    const int32_t *b = p->bias;
    for (int32_t u = 0; u < p->units; ++u) {
        int32_t acc[8];
        w = dot4_pairs(acc, b, w, xs, gx);
        wr = dot4_pairs(acc + 4, b + 4, wr, hs, gh);
        b += 8;
        if (mode == EL_LSTM_S8_MODE_EXACT) {
            unit_exact(p, k, acc, c + u, h + u);
        } else {
            el_lstm_s8_unit(p, k, acc, mode, c + u, h + u);
        }
    }
}
#else
/* v (n int8) into dst, zero padded to a multiple of 4 */
static int8_t *stage_s8_4(int8_t *dst, const int8_t *v, int32_t n)
{
    memcpy(dst, v, (size_t)n);
    for (int32_t j = n; j < EL_LSTM_S8_PAD4(n); ++j) {
        dst[j] = 0;
    }
    return dst;
}

/* acc[0..3] = bias[0..3] + (the 4 gate rows of a unit, n4 columns from w) times v, doubled
 * unless the mode is EXACT (the int32 sums wrap as TFLite Micro's do); returns w past the rows */
EL_LSTM_INLINE const int8_t *c_dot4(int32_t *acc, const int32_t *bias, const int8_t *w, const int8_t *v,
                                    int32_t n4, int32_t dbl)
{
    uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int32_t j = 0; j < n4; j += 4, w += 16) {
        const int32_t x0 = v[j], x1 = v[j + 1], x2 = v[j + 2], x3 = v[j + 3];
        a0 += (uint32_t)(w[0] * x0 + w[1] * x1 + w[2] * x2 + w[3] * x3);
        a1 += (uint32_t)(w[4] * x0 + w[5] * x1 + w[6] * x2 + w[7] * x3);
        a2 += (uint32_t)(w[8] * x0 + w[9] * x1 + w[10] * x2 + w[11] * x3);
        a3 += (uint32_t)(w[12] * x0 + w[13] * x1 + w[14] * x2 + w[15] * x3);
    }
    acc[0] = (int32_t)((uint32_t)bias[0] + (a0 << dbl));
    acc[1] = (int32_t)((uint32_t)bias[1] + (a1 << dbl));
    acc[2] = (int32_t)((uint32_t)bias[2] + (a2 << dbl));
    acc[3] = (int32_t)((uint32_t)bias[3] + (a3 << dbl));
    return w;
}
#endif

void el_lstm_step_s8(const el_lstm_s8_t *p, const int8_t *x, int8_t *h, int16_t *c, int32_t *scratch)
{
    const int32_t n = p->units;
    const int32_t m = p->input_size;
    el_lstm_s8_step_t k;
    k.clip_lo = p->cell_clip >= 0 ? -p->cell_clip : INT16_MIN;
    k.clip_hi = p->cell_clip >= 0 ? p->cell_clip : INT16_MAX;
    k.tanh_round = p->tanh_shift > 0 ? (1 << (p->tanh_shift - 1)) : 0;

#if defined(__ARM_FEATURE_MVE)
    /* x and the old h as int8, zero padded to 16: VLD4 of a unit's 4 x 16 weights (the tail of
     * the last group reads into the next unit or the array's padding) times 16 inputs, 4 rows per
     * pass; the padding lanes multiply by 0 */
    const int32_t m16 = (m + 15) / 16 * 16;
    const int8_t *xs = stage_s8_16((int8_t *)scratch, x, m);
    const int8_t *hs = stage_s8_16((int8_t *)scratch + m16, h, n);
    const int32_t bx = EL_LSTM_S8_PAD4(m); /* words per unit: 4 rows of bx bytes */
    const int32_t bh = EL_LSTM_S8_PAD4(n);
    const int32_t gx = (m + 15) / 16;      /* passes of 16 columns */
    const int32_t gh = (n + 15) / 16;
    int32_t s[8 * 4];                      /* W v per part (x of i, f, g, o, then h) and unit */
    for (int32_t u0 = 0; u0 < n; u0 += 4) {
        const int32_t lanes = n - u0 < 4 ? n - u0 : 4;
        for (int32_t j = 0; j < lanes; ++j) {
            mve_dot4(s + j, (const int32_t *)p->w_x + (u0 + j) * bx, xs, gx);
            mve_dot4(s + 16 + j, (const int32_t *)p->w_h + (u0 + j) * bh, hs, gh);
        }
        if (p->mode == EL_LSTM_S8_MODE_FAST) { /* the gates, cells, hidden values of 4 units at once */
            el_lstm_s8_unit_x4(p, &k, p->bias + 8 * u0, s, lanes, 1, c + u0, h + u0);
        } else {
            el_lstm_s8_unit_x4(p, &k, p->bias + 8 * u0, s, lanes, 0, c + u0, h + u0);
        }
    }
#elif defined(__ARM_FEATURE_DSP)
    /* x and the old h unpacked once into int16 pairs (x0, x2), (x1, x3), doubled when dbl; each
     * weight word unpacked the same way (SXTB16, SXTB16 ROR 8) pairs up with them for SMLAD */
    uint32_t *xs = (uint32_t *)scratch;
    uint32_t *hs = xs + EL_LSTM_S8_PAD4(m) / 2;
    const int32_t dbl = p->mode != EL_LSTM_S8_MODE_EXACT;
    stage_s16_pairs(xs, x, m, dbl);
    stage_s16_pairs(hs, h, n, dbl);
    switch (p->mode) { /* one loop per mode, the mode a constant in each */
    case EL_LSTM_S8_MODE_FAST:
        dsp_units(p, &k, xs, hs, c, h, EL_LSTM_S8_MODE_FAST);
        break;
    case EL_LSTM_S8_MODE_ZERO:
        dsp_units(p, &k, xs, hs, c, h, EL_LSTM_S8_MODE_ZERO);
        break;
    case EL_LSTM_S8_MODE_ANY:
        dsp_units(p, &k, xs, hs, c, h, EL_LSTM_S8_MODE_ANY);
        break;
    default:
        dsp_units(p, &k, xs, hs, c, h, EL_LSTM_S8_MODE_EXACT);
        break;
    }
#else
    /* plain C: x and the old h copied (zero padded to 4), the same layout walked byte by byte */
    const int32_t m4 = EL_LSTM_S8_PAD4(m);
    const int32_t n4 = EL_LSTM_S8_PAD4(n);
    const int8_t *xs = stage_s8_4((int8_t *)scratch, x, m);
    const int8_t *hs = stage_s8_4((int8_t *)scratch + m4, h, n);
    const int8_t *w = p->w_x;
    const int8_t *wr = p->w_h;
    const int32_t *b = p->bias;
    for (int32_t u = 0; u < n; ++u) {
        int32_t acc[8];
        w = c_dot4(acc, b, w, xs, m4, p->mode != EL_LSTM_S8_MODE_EXACT);
        wr = c_dot4(acc + 4, b + 4, wr, hs, n4, p->mode != EL_LSTM_S8_MODE_EXACT);
        b += 8;
        switch (p->mode) { /* the mode a constant in each case */
        case EL_LSTM_S8_MODE_FAST:
            el_lstm_s8_unit(p, &k, acc, EL_LSTM_S8_MODE_FAST, c + u, h + u);
            break;
        case EL_LSTM_S8_MODE_ZERO:
            el_lstm_s8_unit(p, &k, acc, EL_LSTM_S8_MODE_ZERO, c + u, h + u);
            break;
        case EL_LSTM_S8_MODE_ANY:
            el_lstm_s8_unit(p, &k, acc, EL_LSTM_S8_MODE_ANY, c + u, h + u);
            break;
        default:
            unit_exact(p, &k, acc, c + u, h + u);
            break;
        }
    }
#endif
}
