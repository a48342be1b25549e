/* edgelstm runtime: int8 LSTM cell, one timestep, bit-exact with TensorFlow Lite Micro's
 * UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations, int8 weights, int16 cell state, int32 bias).
 *
 * Number formats (all symmetric unless a zero point is named):
 *   x         int8, the layer input, scale s_x, zero point z_x (folded into bias_x)
 *   h         int8, hidden state = layer output, scale s_h, zero point z_h
 *   c         int16, cell state, scale 2^cell_scale_power (e.g. 2^-11: Q4.11)
 *   gate in   int16 Q3.12 (scale 2^-12): W_x x + W_h h + b, each product sum requantized
 *   gate out  int16 Q0.15 (scale 2^-15): sigmoid, or tanh for the cell gate
 *
 * One step, in TFLite Micro's order (h is read by all four gates before it is overwritten):
 *   f = sigmoid(FC_x(x) + FC_h(h))          forget gate
 *   i = sigmoid(FC_x(x) + FC_h(h))          input gate
 *   g = tanh(FC_x(x) + FC_h(h))             cell gate (candidate)
 *   c = clip(sat16(f * c + i * g))          two requantized products, saturating add
 *   o = sigmoid(FC_x(x) + FC_h(h))          output gate
 *   h = sat8(z_h + o * tanh(c))
 * No peephole, projection, layer norm or CIFG (TFLite Micro has none of them either).
 */
#ifndef EL_LSTM_S8_H
#define EL_LSTM_S8_H

#include <stdint.h>

/* Activation of the cell gate (Keras `activation`; the other three gates are always sigmoid). */
#define EL_LSTM_S8_ACT_TANH 0
#define EL_LSTM_S8_ACT_SIGMOID 1

/* One gate: two fully connected layers whose int32 sums are requantized to Q3.12 separately
 * (el_requantize semantics), saturated to int16 and added with saturation. */
typedef struct {
    const int8_t *w_x;      /* (units, input_size) row-major, per-tensor symmetric int8 */
    const int8_t *w_h;      /* (units, units) row-major, per-tensor symmetric int8 */
    const int32_t *bias_x;  /* (units) gate bias minus z_x * row sums of w_x; NULL = none */
    const int32_t *bias_h;  /* (units) minus z_h * row sums of w_h; NULL = none (z_h = 0) */
    int32_t mult_x;         /* s_x * s_wx / 2^-12 as multiplier * 2^(shift - 31) */
    int32_t shift_x;
    int32_t mult_h;         /* s_h * s_wh / 2^-12 */
    int32_t shift_h;
} el_lstm_s8_gate_t;

/* All constant parameters of one LSTM layer (batch 1; run it once per sample for more). */
typedef struct {
    int32_t input_size;
    int32_t units;
    el_lstm_s8_gate_t input_gate;   /* i: sigmoid, Q0.15 out */
    el_lstm_s8_gate_t forget_gate;  /* f: sigmoid, Q0.15 out */
    el_lstm_s8_gate_t cell_gate;    /* g: cell_gate_act, Q0.15 out */
    el_lstm_s8_gate_t output_gate;  /* o: sigmoid, Q0.15 out */
    int32_t cell_gate_act;          /* EL_LSTM_S8_ACT_TANH or EL_LSTM_S8_ACT_SIGMOID */
    /* Cell update: f (Q0.15) * c (2^p) -> 2^p, effective scale 2^-15 */
    int32_t forget_mult;
    int32_t forget_shift;
    /* i (Q0.15) * g (Q0.15) -> c (2^p), effective scale 2^(-30 - p) */
    int32_t input_mult;
    int32_t input_shift;
    /* Cell clip in cell units: c is clamped to [-cell_clip, cell_clip]; -1 = no clipping. */
    int32_t cell_clip;
    /* Cell scale power p: cell scale = 2^p (p < 0; -11 means Q4.11). */
    int32_t cell_scale_power;
    /* tanh(c) input rescale derived from p: t = (c * tanh_mult + round) >> tanh_shift puts
     * c on the grid of the table look-up (see el_tanh_s16). */
    int32_t tanh_mult;
    int32_t tanh_shift;
    /* Hidden: tanh(c) (Q0.15) * o (Q0.15) -> h, effective scale 2^-30 / s_h, plus z_h */
    int32_t hidden_mult;
    int32_t hidden_shift;
    int32_t hidden_zero_point;
} el_lstm_s8_t;

/* int16 scratch elements lstm_step_s8 needs (TFLite Micro's four gate buffers). */
#define EL_LSTM_S8_SCRATCH_INT16(units) (4 * (units))

/* One timestep. x: input_size int8; h: units int8, in/out (start at hidden_zero_point);
 * c: units int16, in/out (start at 0); scratch: EL_LSTM_S8_SCRATCH_INT16(units) int16.
 * x must not alias h. */
void lstm_step_s8(const el_lstm_s8_t *p, const int8_t *x, int8_t *h, int16_t *c, int16_t *scratch);

/* One gate for all units: out = act(sat16(rq(W_x x + b_x) + rq(W_h h + b_h))), Q0.15 out. */
void lstm_gate_s8(const el_lstm_s8_gate_t *g, int32_t input_size, int32_t units, const int8_t *x,
                  const int8_t *h, int32_t act, int16_t *out);

/* int16 sigmoid and tanh by TFLite's 256-entry table with linear interpolation (the
 * reference_integer_ops int16 Logistic and Tanh). Each input is first rescaled to
 * t = (in * multiplier + round) >> shift, round = 2^(shift - 1) (0 when shift = 0), shift >= 0.
 * The table holds sigmoid(k / 24): sigmoid reads entry k = |t| / 2^9, tanh entry k = |t| / 2^8
 * (tanh(v) = 2 sigmoid(2v) - 1), so a Q3.12 input takes multiplier 3, shift 0 for both
 * (|v| * 4096 * 3 / 512 = 24 |v|). Outputs are Q0.15. in and out may be the same array. */
void el_sigmoid_s16(const int16_t *in, int16_t *out, int32_t n, int32_t multiplier, int32_t shift);
void el_tanh_s16(const int16_t *in, int16_t *out, int32_t n, int32_t multiplier, int32_t shift);

/* sigmoid(k / 24) for k = 0..255 in unsigned 0.16 (TFLite's sigmoid_table_uint16); both
 * activations read it (tanh(x) = 2 sigmoid(2x) - 1). */
extern const uint16_t el_sigmoid_table_u16[256];

#endif /* EL_LSTM_S8_H */
