/* edgelstm runtime: the public header.
 *
 * Kernels for the ops of an exported recurrent model, in the CMSIS-NN spirit: one kernel per
 * file named <op>_<type>, constant parameters in a struct the generator fills in (weights,
 * precomputed multipliers, offsets), caller-owned buffers, no heap, no stdio.
 *
 * int8 and int16 kernels compute exactly what TensorFlow Lite Micro's reference kernels compute.
 * Quantized values: real = scale * (q - zero_point); the kernels take offsets
 * (input_offset = -input zero point, output_offset = +output zero point) as TFLM does.
 */
#ifndef EDGELSTM_H
#define EDGELSTM_H

/* The runtime ABI: kernel names, parameter structs and calling conventions. Generated models check it
 * at compile time (#error on a mismatch): compile every export with a runtime/ of the same ABI. Two exports
 * made by one edgelstm version ship identical runtime files: compile one copy of runtime/ (with the
 * union of their kernels) and link it once. Every global symbol of the runtime starts with el_. */
#define EL_RUNTIME_ABI_VERSION 2

/* Placement of the constant tables (weights, parameters) of generated models; override them with -D
 * or before including a model header, e.g. -DEL_WEIGHTS_SECTION='__attribute__((section(".rodata.nn")))'. */
#ifndef EL_ALIGNED
#if defined(__GNUC__) || defined(__clang__)
#define EL_ALIGNED(n) __attribute__((aligned(n)))
#elif defined(__cplusplus) && __cplusplus >= 201103L
#define EL_ALIGNED(n) alignas(n)
#else
#define EL_ALIGNED(n)
#endif
#endif
/* What generated parameter definitions are marked with (a generated model maps them to its own
 * <NAME>_ALIGN and <NAME>_WEIGHTS_SECTION); these defaults serve code that includes the definitions
 * directly. */
#ifndef EL_MODEL_ALIGN
#define EL_MODEL_ALIGN(n) EL_ALIGNED(n)
#endif
#ifndef EL_MODEL_SECTION
#define EL_MODEL_SECTION
#endif

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
void el_fc_s8(const el_fc_s8_t *p, const int8_t *x, int8_t *y);

/* ADD and SUB: both inputs rescaled to a common 2^-20 grid (left_shift), summed, requantized. */
typedef struct {
    int32_t size;
    int32_t left_shift;
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} el_addsub_s8_t;
void el_add_s8(const el_addsub_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y);
void el_sub_s8(const el_addsub_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y);

/* MUL: y = requant((a + input1_offset) * (b + input2_offset)) + output_offset */
typedef struct {
    int32_t size;
    int32_t input1_offset, input2_offset;
    int32_t output_offset, multiplier, shift;
    int32_t act_min, act_max;
} el_mul_s8_t;
void el_mul_s8(const el_mul_s8_t *p, const int8_t *a, const int8_t *b, int8_t *y);

/* ---- int16: the cell path of a lowered int8 LSTM ------------------------------------------
 * The cell state c lives in int16 with scale s_c = 2^-k (a power of two, zero point 0); the
 * forget gate is widened from Q0.8 (int8, scale 1/256, zero point -128) to Q0.15 (int16,
 * scale 2^-15): per step f16 = QUANTIZE(f), fc = MUL(f16, c), ig16 = QUANTIZE(i*g),
 * c = ADD(fc, ig16), and QUANTIZE(c) back to int8 for TANH. */

/* QUANTIZE between integer types (TFLite's Requantize):
 * y = clamp(requant(x + input_offset) + output_offset) to the output type's range, where requant
 * multiplies by input_scale / output_scale = multiplier * 2^(shift - 31) (shift > 0 allowed). */
typedef struct {
    int32_t size;
    int32_t input_offset;      /* -input zero point */
    int32_t output_offset;     /* +output zero point */
    int32_t multiplier, shift;
} el_requantize_t;
/* int8 (any scale and zero point) -> int16 (e.g. Q0.8 gate -> Q0.15, i*g -> cell grid) */
void el_requantize_s8_s16(const el_requantize_t *p, const int8_t *x, int16_t *y);
/* int16 (e.g. the cell grid 2^-k) -> int8 (any scale and zero point), saturating to [-128, 127] */
void el_requantize_s16_s8(const el_requantize_t *p, const int16_t *x, int8_t *y);
/* int8 -> int8 with another scale and zero point (the converter's requantization of a tensor) */
void el_requantize_s8_s8(const el_requantize_t *p, const int8_t *x, int8_t *y);

/* MUL, int16 x int16 -> int16, all zero points 0 (as TFLite requires for int16 MUL):
 * y = clamp(requant(a * b), act_min, act_max), requant by input1_scale * input2_scale /
 * output_scale = multiplier * 2^(shift - 31). For f (Q0.15) * c (2^-k) -> c grid: 2^-15. */
typedef struct {
    int32_t size;
    int32_t multiplier, shift;
    int32_t act_min, act_max;  /* [-32768, 32767] without a fused activation */
} el_mul_s16_t;
void el_mul_s16(const el_mul_s16_t *p, const int16_t *a, const int16_t *b, int16_t *y);

/* ADD, int16, TFLite's general int16 path (pot_scale_int16 false): each input (zero point 0)
 * shifted left by left_shift = 15 and scaled by its_scale / (2 * max input scale) (multipliers
 * <= 1/2, so the sum fits in 31 bits), summed, then requantized by
 * 2 * max input scale / (2^15 * output_scale) and offset by the output zero point. */
typedef struct {
    int32_t size;
    int32_t left_shift;
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} el_add_s16_t;
void el_add_s16(const el_add_s16_t *p, const int16_t *a, const int16_t *b, int16_t *y);
/* SUB, int16: a - b, the same general path and parameters as el_add_s16. */
void el_sub_s16(const el_add_s16_t *p, const int16_t *a, const int16_t *b, int16_t *y);

/* ---- int16 x int8 (TFLite's 16x8): relu GRUs and SimpleRNNs of an int8 model (convert.recurrent16) ----
 * FULLY_CONNECTED with int16 activations (zero point 0), int8 symmetric weights and an int64 bias
 * at input_scale x weight_scale: y[r][o] = clamp(requant64(sum_i x[r][i] * w[o][i] + bias[o])),
 * requant64 = el_requantize_s64 (el_fixedpoint.h). Their int16 LOGISTIC and TANH are el_sigmoid_s16 and
 * el_tanh_s16 (el_lstm_s8.h). */
typedef struct {
    int32_t rows;              /* input vectors per call (1 for one timestep) */
    int32_t in_size;
    int32_t out_size;
    const int8_t *weights;     /* out_size x in_size, row-major, symmetric (zero point 0) */
    const int64_t *bias;       /* out_size, or NULL */
    const int32_t *multiplier; /* per output channel (per_channel = 1) or one value */
    const int32_t *shift;
    int32_t per_channel;
    int32_t act_min;
    int32_t act_max;
} el_fc_s16_t;
void el_fc_s16(const el_fc_s16_t *p, const int16_t *x, int16_t *y);

/* LOGISTIC, TANH and RSQRT: a 256-entry table indexed by (uint8_t)x. The generator fills each table by
 * running TFLite Micro's own kernel on all 256 inputs, so the table is exact by construction. */
void el_lut_s8(const int8_t table[256], int32_t size, const int8_t *x, int8_t *y);

/* SOFTMAX over the last axis, int8 in and out (output scale 1/256, zero point -128),
 * with TFLite's fixed-point exp (inputs in Q5.26 after scaling by beta). */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier;  /* beta * input_scale in Q5.26, as multiplier ... */
    int32_t input_left_shift;  /* ... and left shift */
    int32_t diff_min;          /* differences below this give 0 */
} el_softmax_s8_t;
void el_softmax_s8(const el_softmax_s8_t *p, const int8_t *x, int8_t *y);

/* ---- int8: convolutional front ends (Conv1D, DepthwiseConv1D, pooling over time) -------------
 * TFLite writes a Conv1D as CONV_2D and 1D pooling as *_POOL_2D on tensors with one spatial axis
 * of length 1: x[in_len][channels] in, y[out_len][channels] out, time-major (NHWC with H or W = 1).
 * The generator computes out_len and pad (the padded steps before x[0]) as TFLite's
 * ComputePaddingHeightWidth does; tap k of output t reads x[t * stride - pad + k * dilation]. */

/* CONV_2D (Conv1D), per output channel int8 weights w[out_ch][kernel][in_ch], int32 accumulator in
 * units of input_scale * w_scale[o], requantized by input_scale * w_scale[o] / output_scale
 * (multiplier[o] * 2^(shift[o] - 31)). TFLite Micro skips the taps that fall in the padding: the
 * outputs t < first_full and t >= last_full sum w * (x + input_offset) over their valid taps onto
 * bias; the outputs in between (every tap inside x) compute the same integers as a plain dot
 * product onto bias_folded = bias - input_zero_point * sum(w[o]). */
typedef struct {
    int32_t in_len, in_ch;
    int32_t out_len, out_ch;
    int32_t kernel, stride, dilation, pad;
    int32_t first_full, last_full;   /* outputs [first_full, last_full) read no padding */
    const int8_t *weights;           /* out_ch x kernel x in_ch, symmetric (zero point 0) */
    const int32_t *bias;             /* out_ch, TFLite's bias (0 where the model has none) */
    const int32_t *bias_folded;      /* out_ch, bias - input_zero_point * sum(w[o]) */
    const int32_t *multiplier;       /* out_ch, Q0.31 */
    const int32_t *shift;            /* out_ch */
    int32_t input_offset;            /* -input zero point */
    int32_t output_offset;
    int32_t act_min, act_max;        /* fused RELU (or none) as an int8 range */
} el_conv_s8_t;
void el_conv_s8(const el_conv_s8_t *p, const int8_t *x, int8_t *y);

/* DEPTHWISE_CONV_2D (DepthwiseConv1D, the depthwise half of a SeparableConv1D): output channel
 * o = c * depth_multiplier + m reads input channel c only. Weights w[kernel][out_ch] (TFLite's filter
 * [1][kernel][out_ch]), symmetric int8 with a scale per output channel; int32 accumulator in units of
 * input_scale * w_scale[o], requantized by input_scale * w_scale[o] / output_scale (multiplier[o], a
 * Q0.31 fraction, times 2^shift[o], TFLite's double rounding). As el_conv_s8: padded taps are skipped,
 * the edge outputs sum w * (x + input_offset) over their valid taps onto bias, the outputs in
 * [first_full, last_full) sum w * x onto bias_folded = bias - input_zero_point * sum_k w[k][o]. */
typedef struct {
    int32_t in_len, in_ch;
    int32_t out_len, depth_multiplier;  /* out_ch = in_ch * depth_multiplier */
    int32_t kernel, stride, dilation, pad;
    int32_t first_full, last_full;      /* outputs [first_full, last_full) read no padding */
    const int8_t *weights;              /* kernel x out_ch, symmetric (zero point 0) */
    const int32_t *bias;                /* out_ch, TFLite's bias (0 where the model has none) */
    const int32_t *bias_folded;         /* out_ch, bias - input_zero_point * sum_k w[k][o] */
    const int32_t *multiplier;          /* out_ch, Q0.31 */
    const int32_t *shift;               /* out_ch */
    int32_t input_offset;               /* -input zero point */
    int32_t output_offset;
    int32_t act_min, act_max;           /* fused RELU (or none) as an int8 range */
} el_dwconv_s8_t;
void el_dwconv_s8(const el_dwconv_s8_t *p, const int8_t *x, int8_t *y);

/* The input steps [*start, *end) of pooling window t: the window starts at t * stride - pad and
 * spans pool steps; the steps outside the input (padding) are left out. */
static inline void el_pool_window(int32_t t, int32_t stride, int32_t pad, int32_t pool, int32_t in_len,
                                  int32_t *start, int32_t *end)
{
    const int32_t origin = t * stride - pad;
    *start = origin < 0 ? 0 : origin;
    *end = origin + pool < in_len ? origin + pool : in_len;
}

/* MAX_POOL_2D and AVERAGE_POOL_2D along time: the window's steps inside x only (padding is never
 * read); input and output share scale and zero point. Max: the largest raw value. Average: the
 * int32 sum over the n valid steps divided by n, rounded half away from zero. Both clamped to
 * [act_min, act_max]. */
typedef struct {
    int32_t in_len, channels, out_len;
    int32_t pool, stride, pad;
    int32_t act_min, act_max;
} el_pool_s8_t;
void el_maxpool_s8(const el_pool_s8_t *p, const int8_t *x, int8_t *y);
void el_avgpool_s8(const el_pool_s8_t *p, const int8_t *x, int8_t *y);

/* MEAN over the middle axis of x[outer][reduced][inner] (GlobalAveragePooling1D: reduced = time), as
 * TFLite Micro's QuantizedMeanOrSum (also when scale and zero point match in and out): y = clamp(requant(
 * sum - input_zero_point * reduced) + output_offset) to int8, with multiplier (Q0.31) and shift holding
 * input_scale / output_scale / reduced (TFLite Micro's folding). */
typedef struct {
    int32_t outer, reduced, inner;
    int32_t input_zero_point;
    int32_t multiplier, shift;
    int32_t output_offset;
} el_mean_s8_t;
void el_mean_s8(const el_mean_s8_t *p, const int8_t *x, int8_t *y);

/* BATCH_MATMUL, int8 (both operands activations): y = requant(sum_k (a + lhs_offset)(r + rhs_offset))
 * + output_offset; (multiplier, shift) encode s_a * s_r / s_y. Shapes as el_batch_matmul_f32_t. */
typedef struct {
    int32_t batches, rows, depth, cols;
    int32_t adj_x, adj_y;
    int32_t lhs_offset, rhs_offset, output_offset;
    int32_t multiplier, shift;
} el_batch_matmul_s8_t;
void el_batch_matmul_s8(const el_batch_matmul_s8_t *p, const int8_t *a, const int8_t *r, int8_t *y);

/* REDUCE_MAX over the middle axis of x[outer][reduced][inner] (GlobalMaxPooling1D): the largest raw
 * value; input and output share scale and zero point (TFLite Micro requires it). */
void el_reduce_max_s8(int32_t outer, int32_t reduced, int32_t inner, const int8_t *x, int8_t *y);

/* MAXIMUM of two int8 tensors on one scale and zero point (the lowered graph's max pooling). */
void el_maximum_s8(int32_t size, const int8_t *a, const int8_t *b, int8_t *y);

/* ---- float32 ------------------------------------------------------------------------- */

typedef struct {
    int32_t rows, in_size, out_size;
    const float *weights;      /* out_size x in_size, row-major */
    const float *bias;         /* out_size, or 0 */
    float act_min, act_max;
} el_fc_f32_t;
void el_fc_f32(const el_fc_f32_t *p, const float *x, float *y);
void el_add_f32(int32_t size, const float *a, const float *b, float *y);
void el_sub_f32(int32_t size, const float *a, const float *b, float *y);
void el_mul_f32(int32_t size, const float *a, const float *b, float *y);
void el_clamp_f32(int32_t size, float lo, float hi, float *y); /* a fused RELU/RELU6/RELU_N1_TO_1, in place */
void el_logistic_f32(int32_t size, const float *x, float *y);
void el_tanh_f32(int32_t size, const float *x, float *y);
void el_rsqrt_f32(int32_t size, const float *x, float *y); /* 1 / sqrtf(x) */
void el_softmax_f32(int32_t rows, int32_t depth, float beta, const float *x, float *y);

/* CONV_2D (Conv1D), float: per output, the products over the valid taps and input channels summed
 * in TFLite's order, plus bias, clamped to the fused activation's range. Layout as el_conv_s8_t. */
typedef struct {
    int32_t in_len, in_ch;
    int32_t out_len, out_ch;
    int32_t kernel, stride, dilation, pad;
    const float *weights;            /* out_ch x kernel x in_ch */
    const float *bias;               /* out_ch, or 0 */
    float act_min, act_max;
} el_conv_f32_t;
void el_conv_f32(const el_conv_f32_t *p, const float *x, float *y);

/* DEPTHWISE_CONV_2D, float: per output channel o = c * depth_multiplier + m, the products of input
 * channel c over the valid taps summed in tap order (TFLite's), plus bias, clamped to the fused
 * activation's range. Layout as el_dwconv_s8_t. */
typedef struct {
    int32_t in_len, in_ch;
    int32_t out_len, depth_multiplier;
    int32_t kernel, stride, dilation, pad;
    const float *weights;            /* kernel x out_ch */
    const float *bias;               /* out_ch, or 0 */
    float act_min, act_max;
} el_dwconv_f32_t;
void el_dwconv_f32(const el_dwconv_f32_t *p, const float *x, float *y);

typedef struct {
    int32_t in_len, channels, out_len;
    int32_t pool, stride, pad;
    float act_min, act_max;
} el_pool_f32_t;
void el_maxpool_f32(const el_pool_f32_t *p, const float *x, float *y);
void el_avgpool_f32(const el_pool_f32_t *p, const float *x, float *y);
/* BATCH_MATMUL over batches x (rows x depth) x (depth x cols), no broadcasting: attention pooling's
 * softmax weights (1 x T) times the sequence (T x units). adj_x / adj_y: an operand stored transposed. */
typedef struct {
    int32_t batches, rows, depth, cols;
    int32_t adj_x, adj_y;
} el_batch_matmul_f32_t;
void el_batch_matmul_f32(const el_batch_matmul_f32_t *p, const float *a, const float *r, float *y);

void el_mean_f32(int32_t outer, int32_t reduced, int32_t inner, const float *x, float *y);
void el_maximum_f32(int32_t size, const float *a, const float *b, float *y);
void el_reduce_max_f32(int32_t outer, int32_t reduced, int32_t inner, const float *x, float *y);

#ifdef __cplusplus
}
#endif

#endif /* EDGELSTM_H */
