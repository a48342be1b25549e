/* edgelstm runtime: DEPTHWISE_CONV_2D as TFLite expresses a DepthwiseConv1D (one spatial axis of
 * length 1), int8 activations x int8 per-output-channel weights, int32 accumulator.
 *
 * Formats: x and y are int8 with real = scale * (q - zero_point); the weights of output channel
 * o = c * depth_multiplier + m are symmetric int8 with their own scale s_w[o] and read input channel c
 * only; the accumulator is int32 in units of s_x * s_w[o], bias int32 on the same grid.
 * y = clamp(requant(acc, multiplier[o], shift[o]) + output_offset, act_min, act_max), requant by
 * s_x * s_w[o] / s_y (Q0.31 multiplier and a power-of-two shift, TFLite's double rounding).
 *
 * As TFLite Micro's per-channel depthwise convolution, a tap that falls in the 'same' padding is
 * skipped: an output whose window reaches past either end sums w * (x - zero_point) over its valid
 * taps onto bias. An output whose window lies inside the input sums w * x onto
 * bias_folded = bias - zero_point * sum_k w[k][o]: the same integers with one add fewer per tap. */
#include "edgelstm.h"

void el_dwconv_s8(const el_dwconv_s8_t *p, const int8_t *x, int8_t *y)
{
    const int32_t in_ch = p->in_ch, mult = p->depth_multiplier, out_ch = in_ch * mult;
    const int32_t kernel = p->kernel, dilation = p->dilation;
    for (int32_t t = 0; t < p->out_len; ++t, y += out_ch) {
        const int32_t origin = t * p->stride - p->pad;   /* input step of tap 0 */
        const int full = t >= p->first_full && t < p->last_full;
        for (int32_t c = 0; c < in_ch; ++c) {
            for (int32_t m = 0; m < mult; ++m) {
                const int32_t o = c * mult + m;
                int32_t acc = full ? p->bias_folded[o] : p->bias[o];
                for (int32_t k = 0; k < kernel; ++k) {
                    const int32_t step = origin + k * dilation;
                    if (step < 0 || step >= p->in_len) {
                        continue;   /* padding: skipped, as TFLite Micro skips it */
                    }
                    const int32_t w = p->weights[k * out_ch + o];
                    const int32_t v = x[step * in_ch + c];
                    acc += w * (full ? v : v + p->input_offset);
                }
                acc = el_requantize(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
                y[o] = (int8_t)el_clamp_s32(acc, p->act_min, p->act_max);
            }
        }
    }
}
