/* edgelstm runtime: fixed-point helpers shared by the int8 kernels.
 *
 * A real multiplier M is stored as (multiplier, shift) with M = multiplier * 2^(shift - 31)
 * and multiplier in [2^30, 2^31): the same encoding and the same rounding as TensorFlow Lite
 * Micro's reference kernels (rounding doubling high multiply, then rounding right shift).
 */
#ifndef EL_FIXEDPOINT_H
#define EL_FIXEDPOINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* (a * b * 2) >> 32 rounded to nearest, saturating the one overflow case (a = b = INT32_MIN). */
static inline int32_t el_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C99 division truncates towards zero, which is the rounding this needs. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31). */
static inline int32_t el_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * M with M = multiplier * 2^(shift - 31), rounded as TFLite Micro does (its default, two
 * roundings: the doubling high multiply, then the rounding right shift). Inline: every kernel
 * calls it once per output element. */
static inline int32_t el_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    if (shift > 0) {
        /* x * 2^shift in unsigned arithmetic: an overflow (only with a multiplier >= 1 on large
         * inputs, e.g. an int16 MUL whose output scale is finer than the product's) wraps modulo
         * 2^32, as TFLite Micro's int32 product does on its targets, with no undefined behaviour
         * (the conversion back to int32_t is modulo 2^32 on gcc and arm-none-eabi-gcc) */
        return el_rounding_doubling_high_mul((int32_t)((uint32_t)x << shift), multiplier);
    }
    return el_rounding_divide_by_pot(el_rounding_doubling_high_mul(x, multiplier), -shift);
}

/* x * M for a 64-bit accumulator (the int16 x int8 kernels), rounded as TFLite's 64-bit
 * MultiplyByQuantizedMultiplier: the Q0.31 multiplier first rounded to 16 bits (0x7FFF when it would
 * round to 2^15), then one product and one rounding right shift by 15 - shift (ties towards +inf).
 * Assumes |x| < 2^47 and a result within int32, as TFLite does. */
static inline int32_t el_requantize_s64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    const int64_t v = x * reduced + ((int64_t)1 << (total_shift - 1));
    /* floor division by 2^total_shift for either sign (an arithmetic shift, spelled portably) */
    return (int32_t)(v >= 0 ? (v >> total_shift) : ~((~v) >> total_shift));
}

static inline int32_t el_clamp_s32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#ifdef __cplusplus
}
#endif

#endif /* EL_FIXEDPOINT_H */
