/* edgelstm runtime: fixed-point helpers shared by the int8 kernels.
 *
 * A real multiplier M is stored as (multiplier, shift) with M = multiplier * 2^(shift - 31)
 * and multiplier in [2^30, 2^31): the same encoding and the same rounding as TensorFlow Lite
 * Micro's reference kernels (rounding doubling high multiply, then rounding right shift).
 */
#ifndef EL_FIXEDPOINT_H
#define EL_FIXEDPOINT_H

#include <stdint.h>

/* x * M with M = multiplier * 2^(shift - 31), rounded as TFLite Micro does. */
int32_t el_requantize(int32_t x, int32_t multiplier, int32_t shift);

/* (a * b * 2) >> 32 rounded to nearest, saturating the one overflow case (a = b = INT32_MIN). */
int32_t el_rounding_doubling_high_mul(int32_t a, int32_t b);

/* x / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31). */
int32_t el_rounding_divide_by_pot(int32_t x, int32_t exponent);

static inline int32_t el_clamp_s32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* EL_FIXEDPOINT_H */
