/* edgelstm runtime: int16 tanh by table look-up, as TFLite's int16 reference Tanh. */
#include "el_lstm_s8.h"

static int32_t floor_shift(int32_t v, int32_t s)
{
    return v >= 0 ? (v >> s) : ~((~v) >> s);
}

void el_tanh_s16(const int16_t *in, int16_t *out, int32_t n, int32_t multiplier, int32_t shift)
{
    const int32_t half = shift > 0 ? ((int32_t)1 << (shift - 1)) : 0;
    for (int32_t k = 0; k < n; ++k) {
        const int32_t t = floor_shift((int32_t)in[k] * multiplier + half, shift);
        const uint32_t mag = (uint32_t)(t < 0 ? -t : t);
        const uint32_t idx = mag >> 8; /* tanh(v) = 2 sigmoid(2v) - 1: one bit less per entry */
        int32_t y;                     /* sigmoid(2|v|) in 0.24 fixed point */
        if (idx >= 255u) {
            y = (int32_t)((uint32_t)0xFFFF << 8);
        } else {
            const uint32_t lo = el_sigmoid_table_u16[idx];
            const uint32_t hi = el_sigmoid_table_u16[idx + 1u];
            y = (int32_t)((lo << 8) + (mag & 0xFFu) * (hi - lo));
        }
        /* 2 s - 1 with the sign of t, rounded to Q0.15 (drop 8 bits) */
        if (t >= 0) {
            y = y - ((int32_t)1 << 23) + ((int32_t)1 << 7);
        } else {
            y = ((int32_t)1 << 23) - y + ((int32_t)1 << 7) - 1;
        }
        out[k] = (int16_t)floor_shift(y, 8);
    }
}
