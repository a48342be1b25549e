/* edgelstm runtime: float32 LSTM cell, one timestep, as TensorFlow Lite's float
 * UNIDIRECTIONAL_SEQUENCE_LSTM computes it (no peephole, projection, layer norm or CIFG).
 *
 *   i = sigmoid(W_xi x + W_hi h + b_i)      input gate
 *   f = sigmoid(W_xf x + W_hf h + b_f)      forget gate
 *   g = act(W_xg x + W_hg h + b_g)          cell gate (tanh, or sigmoid)
 *   o = sigmoid(W_xo x + W_ho h + b_o)      output gate
 *   c = clip(f * c + i * g)                 cell state (cell_clip 0 = no clipping)
 *   h = o * act(c)
 */
#ifndef EL_LSTM_F32_H
#define EL_LSTM_F32_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const float *w_x;  /* (units, input_size), row-major */
    const float *w_h;  /* (units, units) */
    const float *bias; /* (units) */
} el_lstm_f32_gate_t;

typedef struct {
    int32_t input_size;
    int32_t units;
    el_lstm_f32_gate_t input_gate, forget_gate, cell_gate, output_gate;
    int32_t cell_act_sigmoid; /* 0: tanh (Keras default), 1: sigmoid */
    float cell_clip;          /* 0: none */
} el_lstm_f32_t;

#define EL_LSTM_F32_SCRATCH(units) (4 * (units)) /* float scratch elements */

void el_lstm_step_f32(const el_lstm_f32_t *p, const float *x, float *h, float *c, float *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EL_LSTM_F32_H */
