/* edgelstm runtime: the public header.
 *
 * Kernels for the ops of an exported recurrent model, in the CMSIS-NN spirit: one kernel per
 * file named <op>_<type>, constant parameters in a struct the generator fills in (weights,
 * precomputed multipliers, offsets), caller-owned buffers, no heap, no stdio.
 *
 * int8 kernels compute exactly what TensorFlow Lite Micro's reference kernels compute.
 * Quantized values: real = scale * (q - zero_point); the kernels take offsets
 * (input_offset = -input zero point, output_offset = +output zero point) as TFLM does.
 */
#ifndef EDGELSTM_H
#define EDGELSTM_H

#include <stdint.h>

#include "el_fixedpoint.h"
#include "el_lstm_f32.h"
#include "el_lstm_s8.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- int8 ---------------------------------------------------------------------------- */

/* FULLY_CONNECTED: y[r][o] = requant(sum_i x[r][i] * w[o][i] + bias[o]) + output_offset, where the
 * generator folds the input zero point into the bias: bias[o] = b[o] - input_zero_point * sum_i w[o][i]
 * (exact integer arithmetic: the same sums as TFLite Micro's (x - zero_point) * w). */
typedef struct {
    int32_t rows;              /* input vectors per call (1 for one timestep) */
    int32_t in_size;
    int32_t out_size;
    const int8_t *weights;     /* out_size x in_size, row-major, symmetric (zero point 0) */
    const int32_t *bias;       /* out_size, zero point folded in (see above) */
    const int32_t *multiplier; /* per output channel (per_channel = 1) or one value */
    const int32_t *shift;
    int32_t per_channel;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} el_fc_s8_t;
void fc_s8(const el_fc_s8_t *p, const int8_t *x, int8_t *y);

/* ADD and SUB: both inputs rescaled to a common 2^-20 grid (left_shift), summed, requantized. */
typedef struct {
    int32_t size;
    int32_t left_shift;
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} el_addsub_s8_t;
void add_s8(const el_addsub_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y);
void sub_s8(const el_addsub_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y);

/* MUL: y = requant((a + input1_offset) * (b + input2_offset)) + output_offset */
typedef struct {
    int32_t size;
    int32_t input1_offset, input2_offset;
    int32_t output_offset, multiplier, shift;
    int32_t act_min, act_max;
} el_mul_s8_t;
void mul_s8(const el_mul_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y);

/* LOGISTIC and TANH: a 256-entry table indexed by (uint8_t)x. The generator fills each table by
 * running TFLite Micro's own kernel on all 256 inputs, so the table is exact by construction. */
void lut_s8(const int8_t table[256], int32_t size, const int8_t *x, int8_t *y);

/* SOFTMAX over the last axis, int8 in and out (output scale 1/256, zero point -128),
 * with TFLite's fixed-point exp (inputs in Q5.26 after scaling by beta). */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier;  /* beta * input_scale in Q5.26, as multiplier ... */
    int32_t input_left_shift;  /* ... and left shift */
    int32_t diff_min;          /* differences below this give 0 */
} el_softmax_s8_t;
void softmax_s8(const el_softmax_s8_t *p, const int8_t *x, int8_t *y);

/* ---- float32 ------------------------------------------------------------------------- */

typedef struct {
    int32_t rows, in_size, out_size;
    const float *weights;      /* out_size x in_size, row-major */
    const float *bias;         /* out_size, or 0 */
    float act_min, act_max;
} el_fc_f32_t;
void fc_f32(const el_fc_f32_t *p, const float *x, float *y);
void add_f32(int32_t size, const float *a, const float *b, float *y);
void sub_f32(int32_t size, const float *a, const float *b, float *y);
void mul_f32(int32_t size, const float *a, const float *b, float *y);
void logistic_f32(int32_t size, const float *x, float *y);
void tanh_f32(int32_t size, const float *x, float *y);
void softmax_f32(int32_t rows, int32_t depth, float beta, const float *x, float *y);

#ifdef __cplusplus
}
#endif

#endif /* EDGELSTM_H */
