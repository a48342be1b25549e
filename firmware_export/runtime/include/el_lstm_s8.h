/* edgelstm runtime: int8 LSTM cell, one timestep, bit-exact with TensorFlow Lite Micro's
 * UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations, int8 weights, int16 cell state, int32 bias).
 *
 * Number formats (all symmetric unless a zero point is named):
 *   x         int8, the layer input, scale s_x, zero point z_x (folded into the x biases)
 *   h         int8, hidden state = layer output, scale s_h, zero point z_h
 *   c         int16, cell state, scale 2^cell_scale_power (e.g. 2^-11: Q4.11)
 *   gate in   int16 Q3.12 (scale 2^-12): W_x x + W_h h + b, each product sum requantized
 *   gate out  int16 Q0.15 (scale 2^-15): sigmoid, or tanh for the cell gate
 *
 * One step computes, for every unit, TFLite Micro's integers (h is read by all four gates
 * before it is overwritten):
 *   i, f, o = sigmoid(sat16(sat16(rq(W_x x + b_x)) + sat16(rq(W_h h + b_h))))   per gate
 *   g       = tanh(same)                                                       cell gate
 *   c       = clip(sat16(sat16(rq(f * c)) + sat16(rq(i * g))))
 *   h       = sat8(z_h + rq(o * tanh(c)))
 * No peephole, projection, layer norm or CIFG (TFLite Micro has none of them either).
 *
 * lstm_step_s8 is one fused pass over the units: the four gate rows of a unit are stored next to
 * each other, so x and h are read once per unit for all four gates, and the unit's gates, cell
 * and hidden value are finished before the next unit starts. The same source compiles to three
 * paths, chosen by the compiler's own feature macros, all computing the same integers:
 *   __ARM_FEATURE_MVE (Cortex-M55, M85): VLD4 + VMLADAV.S8 (16 MACs per instruction), then the
 *     gates, cells and hidden values of 4 units at a time in vector lanes;
 *   __ARM_FEATURE_DSP (Cortex-M4, M7, M33): x and h unpacked once per step into int16 pairs
 *     (SXTB16), weights unpacked the same way, SMLAD;
 *   plain C otherwise (Cortex-M0+, M3, host).
 */
#ifndef EL_LSTM_S8_H
#define EL_LSTM_S8_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One requantization x * M, M = multiplier * 2^(shift - 31), TFLite Micro's rounding
 * (el_requantize); the other fields are derived from (multiplier, shift) for the fast forms of
 * el_lstm_s8_internal.h. */
typedef struct {
    int32_t multiplier;  /* [2^30, 2^31) */
    int32_t round;       /* 2^(e - 1) with e = -shift when shift < 0, else 0 */
    uint32_t rshift;     /* e | 2^31 when shift < 0 (bit 31: "round the negatives"), else 0 */
    int32_t lshift;      /* shift when shift > 0, else 0 */
    int32_t shift;       /* TFLite's shift: left if > 0, right if < 0 */
} el_lstm_s8_rq_t;

/* el_lstm_s8_t.mode, chosen by the generator (edgelstm/export/lstm_s8.py); all four compute the
 * same integers (el_lstm_s8_internal.h):
 *   FAST   every requantization shifts right (shift in [-31, -1]), and every accumulator of a gate
 *          row, bias + W v, stays below 2^30 in magnitude for any int8 input: the kernel
 *          accumulates 2 (bias + W v) in int32 and requantizes with one SMMLAR, a subtract, a shift.
 *   ZERO   as FAST, but some shifts are 0: one instruction more per requantization.
 *   ANY    as ZERO, but some gate requantizations shift left (their accumulators times 2^shift
 *          below 2^30): one more.
 *   EXACT  anything else (huge biases, shifts beyond -31, left-shifted products): el_requantize,
 *          64-bit products, undoubled biases. */
#define EL_LSTM_S8_MODE_FAST 0
#define EL_LSTM_S8_MODE_ZERO 1
#define EL_LSTM_S8_MODE_ANY 2
#define EL_LSTM_S8_MODE_EXACT 3

/* Requantizations of el_lstm_s8_t.gate_rq: the x part and the h part of each gate. */
#define EL_LSTM_S8_PART_X 0 /* + gate: x parts of input, forget, cell, output */
#define EL_LSTM_S8_PART_H 4 /* + gate: h parts */

/* Weight layout (written by the generator, edgelstm/export/lstm_s8.py): for each unit a block
 * of 4 * EL_LSTM_S8_PAD4(n) bytes (n = input_size for w_x, units for w_h); in the block, for
 * each group of 4 columns, 4 bytes of the input gate row, then of the forget, cell and output
 * gate rows. Columns past n are 0. The arrays are 16-byte aligned and followed by
 * EL_LSTM_S8_WEIGHT_TAIL more bytes (0), which the MVE loop reads (and multiplies by 0). */
#define EL_LSTM_S8_PAD4(n) (((n) + 3) / 4 * 4)
#define EL_LSTM_S8_WEIGHT_BYTES(rows_in, units) (4 * EL_LSTM_S8_PAD4(rows_in) * (units) + EL_LSTM_S8_WEIGHT_TAIL)
#define EL_LSTM_S8_WEIGHT_TAIL 48
#define EL_LSTM_S8_BIAS_TAIL (3 * 8) /* int32 after the biases (the MVE path reads 4 units) */

/* All constant parameters of one LSTM layer (batch 1; run it once per sample for more). */
typedef struct {
    int32_t input_size;
    int32_t units;
    const int8_t *w_x;      /* input weights, units x 4 gates x input_size, layout above */
    const int8_t *w_h;      /* recurrent weights, units x 4 gates x units, layout above */
    const int32_t *bias;    /* (units + 3) x 8: x parts (bias - z_x * row sum) of i, f, g, o, then
                             * h parts (-z_h * row sum); times 2 unless mode is EXACT; then 3
                             * units of 0 (EL_LSTM_S8_BIAS_TAIL) */
    int32_t mode;           /* EL_LSTM_S8_MODE_*: how the requantizations run (below) */
    el_lstm_s8_rq_t gate_rq[8];  /* to Q3.12: [EL_LSTM_S8_PART_X + g], [EL_LSTM_S8_PART_H + g], g = i, f, g, o */
    el_lstm_s8_rq_t forget_rq;   /* f (Q0.15) * c (2^p) -> c, scale 2^-15 */
    el_lstm_s8_rq_t input_rq;    /* i (Q0.15) * g (Q0.15) -> c, scale 2^(-30 - p) */
    el_lstm_s8_rq_t hidden_rq;   /* o (Q0.15) * tanh(c) (Q0.15) -> h, scale 2^-30 / s_h */
    /* Cell clip in cell units: c is clamped to [-cell_clip, cell_clip]; -1 = no clipping. */
    int32_t cell_clip;
    /* Cell scale power p: cell scale = 2^p (p < 0; -11 means Q4.11). */
    int32_t cell_scale_power;
    /* tanh(c) input rescale derived from p: t = (c * tanh_mult + round) >> tanh_shift puts
     * c on the grid of the table look-up (see el_tanh_s16). */
    int32_t tanh_mult;
    int32_t tanh_shift;
    int32_t hidden_zero_point;
} el_lstm_s8_t;

/* Scratch lstm_step_s8 needs, in int32 words (word aligned): the unpacked int16 copies of x and
 * h (DSP path: 2 bytes per value, padded to 4 values), or zero-padded int8 copies (MVE: padded to
 * 16, plain C: padded to 4); the larger of the two, so that one size serves every core. The old h
 * lives there while the new h is written. */
#define EL_LSTM_S8_SCRATCH_WORDS(input_size, units) \
    ((EL_LSTM_S8_PAD4(input_size) + EL_LSTM_S8_PAD4(units)) / 2 > \
             ((((input_size) + 15) / 16 + ((units) + 15) / 16) * 4) \
         ? (EL_LSTM_S8_PAD4(input_size) + EL_LSTM_S8_PAD4(units)) / 2 \
         : ((((input_size) + 15) / 16 + ((units) + 15) / 16) * 4))

/* One timestep. x: input_size int8; h: units int8, in/out (start at hidden_zero_point);
 * c: units int16, in/out (start at 0); scratch: EL_LSTM_S8_SCRATCH_WORDS(input_size, units)
 * int32, not kept between steps. x and h need no alignment; x must not alias h. */
void el_lstm_step_s8(const el_lstm_s8_t *p, const int8_t *x, int8_t *h, int16_t *c, int32_t *scratch);

/* int16 sigmoid and tanh by TFLite's 256-entry table with linear interpolation (the
 * reference_integer_ops int16 Logistic and Tanh). Each input is first rescaled to
 * t = (in * multiplier + round) >> shift, round = 2^(shift - 1) (0 when shift = 0), shift >= 0.
 * The table holds sigmoid(k / 24): sigmoid reads entry k = |t| / 2^9, tanh entry k = |t| / 2^8
 * (tanh(v) = 2 sigmoid(2v) - 1), so a Q3.12 input takes multiplier 3, shift 0 for both
 * (|v| * 4096 * 3 / 512 = 24 |v|). Outputs are Q0.15. in and out may be the same array. */
void el_sigmoid_s16(const int16_t *in, int16_t *out, int32_t n, int32_t multiplier, int32_t shift);
void el_tanh_s16(const int16_t *in, int16_t *out, int32_t n, int32_t multiplier, int32_t shift);

/* sigmoid(k / 24) for k = 0..255 in unsigned 0.16 (TFLite's sigmoid_table_uint16), plus a
 * copy of the last entry at 256 so that an interpolation at entry 255 reads no further; both
 * activations read it (tanh(x) = 2 sigmoid(2x) - 1). */
extern const uint16_t el_sigmoid_table_u16[257];

/* The table over signed entries -256 .. 256, at index + 256: el_sigmoid_table_u16[j] for j >= 0,
 * 65536 - el_sigmoid_table_u16[-j] for j < 0 (what lstm_step_s8 interpolates). */
extern const uint16_t el_sigmoid_signed_u16[513];

#ifdef __cplusplus
}
#endif

#endif /* EL_LSTM_S8_H */
