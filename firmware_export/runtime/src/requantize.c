/* edgelstm runtime: requantization of int32 accumulators (TFLite Micro rounding). */
#include "el_fixedpoint.h"

int32_t el_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C99 division truncates towards zero, which is the rounding this needs. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

int32_t el_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t el_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* x * 2^left cannot overflow for the accumulators the kernels pass (|x| < 2^(31-left)). */
    return el_rounding_divide_by_pot(el_rounding_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}
