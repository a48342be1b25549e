/* edgelstm runtime: SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128).
 *
 * Fixed-point formats (bits after the point in brackets):
 *   scaled differences  Q5.26  (x - max) * beta * input_scale, always <= 0
 *   exp results         Q0.31
 *   sum of exps         Q12.19
 * exp(x) for x <= 0 splits x into a part in [-1/4, 0), evaluated by a 4th-order Taylor series
 * around -1/8, and the remaining multiples of 1/4, 1/2, 1, 2, 4, 8, 16 applied as products of
 * the constants exp(-2^k). The reciprocal of the sum uses three Newton-Raphson steps.
 */
#include "edgelstm.h"

#define Q31_ONE INT32_MAX

static int32_t mul_q(int32_t a, int32_t b) /* fixed-point product: raw result of the SRDHM */
{
    return el_rounding_doubling_high_mul(a, b);
}

static int32_t saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), a and result in Q0.31. */
static int32_t exp_quarter_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0.31 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0.31 */
    const int32_t x = a + (1 << 28);                 /* x = a + 1/8 */
    const int32_t x2 = mul_q(x, x);
    const int32_t x3 = mul_q(x2, x);
    const int32_t x4 = mul_q(x2, x2);
    const int32_t x4_over_4 = el_rounding_divide_by_pot(x4, 2);
    const int32_t poly = el_rounding_divide_by_pot(mul_q(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + mul_q(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0 in Q5.26, result in Q0.31. */
static int32_t exp_negative_q5_26(int32_t a)
{
    const int32_t one_quarter = 1 << 24;
    const int32_t a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = exp_quarter_interval(saturating_shift_left(a_mod_quarter_minus_quarter, 5));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    /* exp(-2^k) in Q0.31 for k = -2 .. 4, applied when bit (26 + k) of the remainder is set */
    static const int32_t exp_minus_pow2[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1)   */
        290630308,  /* exp(-2)   */
        39332535,   /* exp(-4)   */
        720401,     /* exp(-8)   */
        242,        /* exp(-16)  */
    };
    for (int32_t k = 0; k < 7; ++k) {
        if (remainder & (1 << (24 + k))) {
            result = mul_q(result, exp_minus_pow2[k]);
        }
    }
    return a == 0 ? Q31_ONE : result;
}

/* 1 / (1 + x) for x in [0, 1) in Q0.31; result in Q0.31 (the value halved is returned doubled). */
static int32_t one_over_one_plus_x(int32_t x)
{
    /* half_denominator = (1 + x) / 2, Q0.31, rounded half-sum */
    const int64_t sum = (int64_t)x + Q31_ONE;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    /* Newton-Raphson in Q2.29, starting at 48/17 - 32/17 * d */
    const int32_t c48_over_17 = 1515870810;
    const int32_t c_neg32_over_17 = -1010580540;
    int32_t r = c48_over_17 + mul_q(half_denominator, c_neg32_over_17);
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t d_times_r = mul_q(half_denominator, r);           /* Q2.29 */
        const int32_t one_minus = (1 << 29) - d_times_r;                 /* Q2.29 */
        r = r + saturating_shift_left(mul_q(r, one_minus), 2);          /* Q4.27 -> Q2.29 */
    }
    /* r ~ 1 / half_denominator in Q2.29 = 1 / (1 + x) in Q1.30; to Q0.31 */
    return saturating_shift_left(r, 1);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void el_softmax_s8(const el_softmax_s8_t *p, const int8_t *x, int8_t *y)
{
    for (int32_t r = 0; r < p->rows; ++r, x += p->depth, y += p->depth) {
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < p->depth; ++c) {
            if (x[c] > max_in_row) {
                max_in_row = x[c];
            }
        }
        int32_t sum_of_exps = 0; /* Q12.19 */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = mul_q(diff * (1 << p->input_left_shift), p->input_multiplier);
                sum_of_exps += el_rounding_divide_by_pot(exp_negative_q5_26(scaled), 12);
            }
        }
        /* 1 / sum: normalise the sum into [1, 2), take 1/(1+f), shift back */
        const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int32_t bits_over_unit = 12 - headroom_plus_one;
        const int32_t fraction = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t reciprocal = one_over_one_plus_x(fraction);
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            int32_t out = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = mul_q(diff * (1 << p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_negative_q5_26(scaled);
                out = el_rounding_divide_by_pot(mul_q(reciprocal, e), bits_over_unit + 31 - 8) - 128;
            }
            y[c] = (int8_t)el_clamp_s32(out, -128, 127);
        }
    }
}
