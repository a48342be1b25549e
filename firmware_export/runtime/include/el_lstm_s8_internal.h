/* edgelstm runtime: inline arithmetic of the int8 LSTM step (lstm_step_s8.c). Not an API.
 *
 * Every function computes exactly TFLite Micro's integers; the identities they rely on are
 * checked exhaustively or on random values against el_requantize and the table functions by
 * tests/test_lstm_s8.py.
 *
 * Fast requantization. TFLite's rq(a) = RDBPOT(SRDHM(a, m), e) (e = -shift > 0) with
 *   SRDHM(a, m) = (a * m + 2^30) >> 31     (arithmetic shift of the 64-bit product; gemmlowp's
 *                                           nudge rounds negative ties up as well, and m > 0
 *                                           rules out the one saturating case)
 *               = SMMULR(2a, m)             (= (2a * m + 2^31) >> 32, exact while |a| < 2^30)
 *   RDBPOT(y, e) = (y + 2^(e-1) - (y < 0)) >> e   (ties away from zero)
 * and (y < 0) may be replaced by (a < 0): y has the sign of a or is 0, and y = 0 gives 0 with
 * either. So rq(a) = (SMMLAR(2a, m, 2^(e-1)) - (a < 0)) >> e: one multiply-accumulate, a
 * subtract and a shift (el_lstm_rq_fast; the accumulators are doubled for free: the biases are
 * stored doubled and the DSP path stages 2x and 2h). With shift = 0 the correction must vanish
 * (el_lstm_rq_zero masks it with bit 31 of rshift); a left shift goes first (el_lstm_rq_any).
 * The MVE path needs no doubling: VQRDMULH is SRDHM itself (el_lstm_mve_rq).
 *
 * Tables. sigmoid and tanh interpolate el_sigmoid_signed_u16, the TFLite table mirrored to
 * negative entries, which folds the table code's |t| and its negative branch into one rounding
 * constant (el_lstm_sigmoid_q312, el_lstm_tanh_grid).
 */
#ifndef EL_LSTM_S8_INTERNAL_H
#define EL_LSTM_S8_INTERNAL_H

#include <stdint.h>

#include "el_fixedpoint.h"
#include "el_lstm_s8.h"

#if defined(__ARM_FEATURE_DSP) || defined(__ARM_FEATURE_MVE) || defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif
#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The unit update is instantiated with constant flags: it must be inlined for them to fold. */
#if defined(__GNUC__)
#define EL_LSTM_INLINE static inline __attribute__((always_inline))
#else
#define EL_LSTM_INLINE static inline
#endif

/* (c << 32) + a * b + 2^31, high word: ARM's SMMLAR */
EL_LSTM_INLINE int32_t el_lstm_smmlar(int32_t a, int32_t b, int32_t c)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    /* high word of a 64-bit value: floor division by 2^32, spelled without a signed shift */
    const int64_t v = (int64_t)a * b + ((int64_t)1 << 31);
    const uint32_t hi = (uint32_t)((uint64_t)v >> 32);
    return (int32_t)(hi + (uint32_t)c);
#endif
}

EL_LSTM_INLINE int32_t el_lstm_sat16(int32_t v)
{
#if defined(__ARM_FEATURE_SAT)
    return __ssat(v, 16);
#else
    return v < INT16_MIN ? INT16_MIN : (v > INT16_MAX ? INT16_MAX : v);
#endif
}

EL_LSTM_INLINE int32_t el_lstm_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_SAT)
    return __ssat(v, 8);
#else
    return v < INT8_MIN ? INT8_MIN : (v > INT8_MAX ? INT8_MAX : v);
#endif
}

/* Arithmetic right shift, spelled portably (gcc and clang compile it to one ASR). */
EL_LSTM_INLINE int32_t el_lstm_asr(int32_t v, int32_t s)
{
    return v >= 0 ? (v >> s) : ~((~v) >> s);
}

/* v >> (s & 0xFF), s & 0xFF <= 31: ARM's register shift, which reads the low byte of s only */
EL_LSTM_INLINE int32_t el_lstm_asr_byte(int32_t v, uint32_t s)
{
#if defined(__GNUC__) && defined(__thumb2__)
    int32_t r;
    __asm__("asr %0, %1, %2" : "=r"(r) : "r"(v), "r"(s));
    return r;
#else
    return el_lstm_asr(v, (int32_t)(s & 31u));
#endif
}

/* rq(a) for acc2 = 2a, |a| < 2^30, shift in [-31, -1] (see the top of this file). Unsaturated. */
EL_LSTM_INLINE int32_t el_lstm_rq_fast(int32_t acc2, const el_lstm_s8_rq_t *q)
{
    const int32_t t = el_lstm_smmlar(acc2, q->multiplier, q->round) - (int32_t)((uint32_t)acc2 >> 31);
    return el_lstm_asr_byte(t, q->rshift);
}

/* rq(a) for acc2 = 2a, |a| < 2^30, shift in [-31, 0]: the fast form, with the negatives'
 * correction only when there is a right shift (bit 31 of rshift): for shift = 0,
 * rq(a) = SRDHM(a, m) = SMMULR(2a, m). Unsaturated. */
EL_LSTM_INLINE int32_t el_lstm_rq_zero(int32_t acc2, const el_lstm_s8_rq_t *q)
{
    const int32_t t = el_lstm_smmlar(acc2, q->multiplier, q->round) - (int32_t)(((uint32_t)acc2 & q->rshift) >> 31);
    return el_lstm_asr_byte(t, q->rshift);
}

/* rq(a) for acc2 = 2a, |a << lshift| < 2^30, any shift in [-31, 30]: el_lstm_rq_zero after the
 * left shift (rq(a) = SRDHM(a << shift, m) = SMMULR(2a << shift, m) for shift > 0). Unsaturated. */
EL_LSTM_INLINE int32_t el_lstm_rq_any(int32_t acc2, const el_lstm_s8_rq_t *q)
{
    return el_lstm_rq_zero((int32_t)((uint32_t)acc2 << q->lshift), q);
}

/* el_requantize, not inlined: the EXACT mode is for pathological layers only */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static int32_t el_lstm_rq_exact(int32_t a, const el_lstm_s8_rq_t *q)
{
    return el_requantize(a, q->multiplier, q->shift);
}

/* Interpolation in the signed table el_sigmoid_signed_u16 (entry j at t = j 2^bits, any sign):
 * for t >= 0 the table code's y = T[k] 2^bits + f (T[k+1] - T[k]) with k = |t| >> bits, f its
 * remainder; for t < 0 the mirrored entries give 2^(16 + bits) - y(|t|), with the same difference
 * (T is increasing), so the table code's negative branch becomes the positive one with a rounding
 * constant one lower (see el_lstm_sigmoid_q312, el_lstm_tanh_grid). */
#define EL_LSTM_TABLE (el_sigmoid_signed_u16 + 256)

/* sigmoid of a Q3.12 value (TFLite's int16 Logistic with input multiplier 3, shift 0), Q0.15:
 * |3v| < 2^17 keeps the entry within [-192, 192], short of the saturation branch; the table code
 * rounds (y + 2^9) >> 10 for t >= 0 and (2^25 - y + 2^9 - 1) >> 10 for t < 0. */
EL_LSTM_INLINE int32_t el_lstm_sigmoid_q312(int32_t v)
{
    const int32_t t = v * 3;
    const uint16_t *e = EL_LSTM_TABLE + el_lstm_asr(t, 9);
    const int32_t lo = e[0];
    const int32_t y = (lo << 9) + (t & 0x1FF) * (e[1] - lo);
    return (y + (1 << 9) - (int32_t)((uint32_t)t >> 31)) >> 10;
}

/* tanh of t already on the table grid (entry j at t = j 2^8), Q0.15 (TFLite's int16 Tanh after
 * its input rescale): t saturated to [-2^16, 2^16 - 1], where entries +-255 and +-256 (a copy of
 * 255) give the table code's saturated values; it rounds ((y + 2^7) >> 8) - 2^15 for t >= 0 and
 * (2^23 - y + 2^7 - 1) >> 8 for t < 0. */
EL_LSTM_INLINE int32_t el_lstm_tanh_grid(int32_t t)
{
#if defined(__ARM_FEATURE_SAT)
    t = __ssat(t, 17);
#else
    t = t < -65536 ? -65536 : (t > 65535 ? 65535 : t);
#endif
    const uint16_t *e = EL_LSTM_TABLE + el_lstm_asr(t, 8);
    const int32_t lo = e[0];
    const int32_t y = (lo << 8) + (t & 0xFF) * (e[1] - lo);
    return ((y + (1 << 7) - (int32_t)((uint32_t)t >> 31)) >> 8) - (1 << 15);
}

/* Per step constants of the unit update. */
typedef struct {
    int32_t clip_lo, clip_hi; /* cell clip, or the int16 range */
    int32_t tanh_round;       /* 2^(tanh_shift - 1), or 0 */
} el_lstm_s8_step_t;

/* rq of an accumulator, doubled unless mode is EL_LSTM_S8_MODE_EXACT (a constant for the
 * compiler). Unsaturated. */
EL_LSTM_INLINE int32_t el_lstm_rq(int32_t acc, const el_lstm_s8_rq_t *q, int32_t mode)
{
    if (mode == EL_LSTM_S8_MODE_FAST) {
        return el_lstm_rq_fast(acc, q);
    }
    if (mode == EL_LSTM_S8_MODE_ZERO) {
        return el_lstm_rq_zero(acc, q);
    }
    if (mode == EL_LSTM_S8_MODE_ANY) {
        return el_lstm_rq_any(acc, q);
    }
    return el_lstm_rq_exact(acc, q);
}

/* Gate pre-activation, Q3.12: the x and h parts requantized and saturated, then added (saturating). */
EL_LSTM_INLINE int32_t el_lstm_s8_pre(const el_lstm_s8_t *p, const int32_t *acc, int32_t g, int32_t mode)
{
    const int32_t ax = el_lstm_rq(acc[EL_LSTM_S8_PART_X + g], &p->gate_rq[EL_LSTM_S8_PART_X + g], mode);
    const int32_t ah = el_lstm_rq(acc[EL_LSTM_S8_PART_H + g], &p->gate_rq[EL_LSTM_S8_PART_H + g], mode);
    return el_lstm_sat16(el_lstm_sat16(ax) + el_lstm_sat16(ah));
}

/* One unit after its matrix products: acc[8] = bias + W v for the x parts of i, f, g, o and the
 * h parts, times 2 unless mode is EL_LSTM_S8_MODE_EXACT. Updates *c and writes *h. */
EL_LSTM_INLINE void el_lstm_s8_unit(const el_lstm_s8_t *p, const el_lstm_s8_step_t *k, const int32_t *acc,
                                    int32_t mode, int16_t *c, int8_t *h)
{
    /* the products below are under 2^30 in magnitude: doubling them is exact */
    const int32_t two = mode == EL_LSTM_S8_MODE_EXACT ? 1 : 2;
    const int32_t ig = el_lstm_sigmoid_q312(el_lstm_s8_pre(p, acc, 0, mode));
    const int32_t fg = el_lstm_sigmoid_q312(el_lstm_s8_pre(p, acc, 1, mode));
    const int32_t gg = el_lstm_tanh_grid(el_lstm_s8_pre(p, acc, 2, mode) * 3); /* Q3.12: multiplier 3 */
    /* c = clip(sat16(sat16(rq(f c)) + sat16(rq(i g)))): the clip range lies inside int16, so one
     * clamp does both */
    const int32_t fc = el_lstm_rq(fg * (int32_t)*c * two, &p->forget_rq, mode);
    const int32_t ic = el_lstm_rq(ig * gg * two, &p->input_rq, mode);
    int32_t v = el_lstm_sat16(fc) + el_lstm_sat16(ic);
    v = v < k->clip_lo ? k->clip_lo : (v > k->clip_hi ? k->clip_hi : v);
    *c = (int16_t)v;
    /* h = sat8(z_h + rq(o tanh(c))) */
    const int32_t og = el_lstm_sigmoid_q312(el_lstm_s8_pre(p, acc, 3, mode));
    const int32_t tc = el_lstm_tanh_grid(el_lstm_asr(v * p->tanh_mult + k->tanh_round, p->tanh_shift));
    const int32_t hv = el_lstm_rq(og * tc * two, &p->hidden_rq, mode);
    *h = (int8_t)el_lstm_sat8(p->hidden_zero_point + hv);
}

#if defined(__ARM_FEATURE_MVE)

/* ---- MVE: the unit update for 4 units at once (int32 lanes) ------------------------------
 * rq(a) = RDBPOT(SRDHM(a << lsh, m), e): VQRDMULH is SRDHM exactly (its one saturating case is
 * TFLite's too), VRSHL by -e rounds ties up, so negative values first take 1 off (TFLite rounds
 * ties away from zero). fast: every e >= 1 and lsh = 0. */
EL_LSTM_INLINE int32x4_t el_lstm_mve_rq(int32x4_t a, const el_lstm_s8_rq_t *q, int32_t fast)
{
    if (fast) {
        const int32x4_t y = vqrdmulhq_n_s32(a, q->multiplier);
        return vrshlq_n_s32(vaddq_s32(y, vshrq_n_s32(y, 31)), q->shift);
    }
    const int32x4_t y = vqrdmulhq_n_s32(vshlq_r_s32(a, q->lshift), q->multiplier);
    const int32x4_t neg = vshrq_n_s32(vandq_s32(y, vdupq_n_s32((int32_t)q->rshift)), 31); /* bit 31: e > 0 */
    return vrshlq_n_s32(vaddq_s32(y, neg), q->shift - q->lshift);
}

/* sat16(sat16(a) + sat16(b)) */
EL_LSTM_INLINE int32x4_t el_lstm_mve_add16(int32x4_t a, int32x4_t b)
{
    const int16x8_t z = vdupq_n_s16(0);
    return vmovlbq_s16(vqaddq_s16(vqmovnbq_s32(z, a), vqmovnbq_s32(z, b)));
}

/* el_lstm_sigmoid_q312 on 4 lanes (the gathers take the signed entries as wrapping offsets) */
EL_LSTM_INLINE int32x4_t el_lstm_mve_sigmoid_q312(int32x4_t v)
{
    const int32x4_t t = vmulq_n_s32(v, 3);
    const uint32x4_t idx = vreinterpretq_u32_s32(vshrq_n_s32(t, 9));
    const int32x4_t lo = vreinterpretq_s32_u32(vldrhq_gather_shifted_offset_u32(EL_LSTM_TABLE, idx));
    const int32x4_t hi = vreinterpretq_s32_u32(vldrhq_gather_shifted_offset_u32(EL_LSTM_TABLE + 1, idx));
    const int32x4_t frac = vsubq_s32(t, vshlq_n_s32(vreinterpretq_s32_u32(idx), 9));
    const int32x4_t y = vaddq_s32(vshlq_n_s32(lo, 9), vmulq_s32(frac, vsubq_s32(hi, lo)));
    return vshrq_n_s32(vaddq_s32(vaddq_n_s32(y, 1 << 9), vshrq_n_s32(t, 31)), 10);
}

/* el_lstm_tanh_grid on 4 lanes */
EL_LSTM_INLINE int32x4_t el_lstm_mve_tanh_grid(int32x4_t t)
{
    t = vmaxq_s32(vminq_s32(t, vdupq_n_s32(65535)), vdupq_n_s32(-65536));
    const uint32x4_t idx = vreinterpretq_u32_s32(vshrq_n_s32(t, 8));
    const int32x4_t lo = vreinterpretq_s32_u32(vldrhq_gather_shifted_offset_u32(EL_LSTM_TABLE, idx));
    const int32x4_t hi = vreinterpretq_s32_u32(vldrhq_gather_shifted_offset_u32(EL_LSTM_TABLE + 1, idx));
    const int32x4_t frac = vsubq_s32(t, vshlq_n_s32(vreinterpretq_s32_u32(idx), 8));
    const int32x4_t y = vaddq_s32(vshlq_n_s32(lo, 8), vmulq_s32(frac, vsubq_s32(hi, lo)));
    return vsubq_n_s32(vshrq_n_s32(vaddq_s32(vaddq_n_s32(y, 1 << 7), vshrq_n_s32(t, 31)), 8), 1 << 15);
}

/* 4 units u0 .. u0 + lanes - 1 after their matrix products: s[8][4] = W v per part (x parts of
 * i, f, g, o, then h parts) and lane; bias (+ 8 u0) as in el_lstm_s8_t (3 units of padding
 * follow the array). Updates c[0..lanes) and writes h[0..lanes). */
EL_LSTM_INLINE void el_lstm_s8_unit_x4(const el_lstm_s8_t *p, const el_lstm_s8_step_t *k, const int32_t *bias,
                                       const int32_t *s, int32_t lanes, int32_t fast, int16_t *c, int8_t *h)
{
    const uint32x4_t boff = vidupq_n_u32(0, 8); /* bias words of the 4 units: 0, 8, 16, 24 */
    const int32_t dbl = p->mode == EL_LSTM_S8_MODE_EXACT ? 0 : -1; /* halve doubled biases */
    int32x4_t act[4];
    for (int32_t g = 0; g < 4; ++g) {
        const int32x4_t ax = vaddq_s32(vld1q_s32(s + 4 * (EL_LSTM_S8_PART_X + g)),
                                       vshlq_r_s32(vldrwq_gather_shifted_offset_s32(bias + EL_LSTM_S8_PART_X + g,
                                                                                   boff), dbl));
        const int32x4_t ah = vaddq_s32(vld1q_s32(s + 4 * (EL_LSTM_S8_PART_H + g)),
                                       vshlq_r_s32(vldrwq_gather_shifted_offset_s32(bias + EL_LSTM_S8_PART_H + g,
                                                                                   boff), dbl));
        const int32x4_t pre = el_lstm_mve_add16(el_lstm_mve_rq(ax, &p->gate_rq[EL_LSTM_S8_PART_X + g], fast),
                                                el_lstm_mve_rq(ah, &p->gate_rq[EL_LSTM_S8_PART_H + g], fast));
        act[g] = g == 2 ? el_lstm_mve_tanh_grid(vmulq_n_s32(pre, 3)) : el_lstm_mve_sigmoid_q312(pre);
    }
    const mve_pred16_t live = vctp32q((uint32_t)lanes);
    const int32x4_t c0 = vldrhq_z_s32(c, live);
    const int32x4_t fc = el_lstm_mve_rq(vmulq_s32(act[1], c0), &p->forget_rq, fast);
    const int32x4_t ig = el_lstm_mve_rq(vmulq_s32(act[0], act[2]), &p->input_rq, fast);
    int32x4_t v = el_lstm_mve_add16(fc, ig);
    if (p->cell_clip >= 0) {
        v = vmaxq_s32(vminq_s32(v, vdupq_n_s32(k->clip_hi)), vdupq_n_s32(k->clip_lo));
    }
    vstrhq_p_s32(c, v, live);
    const int32x4_t t = vshlq_r_s32(vaddq_n_s32(vmulq_n_s32(v, p->tanh_mult), k->tanh_round), -p->tanh_shift);
    const int32x4_t hv = vaddq_n_s32(el_lstm_mve_rq(vmulq_s32(act[3], el_lstm_mve_tanh_grid(t)), &p->hidden_rq, fast),
                                     p->hidden_zero_point);
    const int16x8_t h16 = vqmovnbq_s32(vdupq_n_s16(0), hv);
    const int8x16_t h8 = vqmovnbq_s16(vdupq_n_s8(0), h16);
    vstrbq_p_s32(h, vreinterpretq_s32_s8(h8), live);
}
#endif /* __ARM_FEATURE_MVE */

#ifdef __cplusplus
}
#endif

#endif /* EL_LSTM_S8_INTERNAL_H */
