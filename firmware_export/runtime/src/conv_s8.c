/* edgelstm runtime: CONV_2D as TFLite expresses a Conv1D (one spatial axis of length 1), int8
 * activations x int8 per-output-channel weights, int32 accumulator.
 *
 * Formats: x and y are int8 with real = scale * (q - zero_point); w[o] is symmetric int8 with its
 * own scale s_w[o]; the accumulator is int32 in units of s_x * s_w[o]; bias is int32 on the same
 * grid. y = clamp(requant(acc, multiplier[o], shift[o]) + output_offset, act_min, act_max) with
 * requant by s_x * s_w[o] / s_y (Q0.31 multiplier and shift, TFLite's double rounding).
 *
 * TFLite Micro skips the padded taps of a 'same' convolution (they add nothing), so an output
 * whose window reaches past either end is the sum over its valid taps of w * (x - zero_point):
 * the edge outputs run exactly that. An output whose window lies inside the input (all of them
 * for 'valid') uses bias_folded = bias - zero_point * sum(w[o]) and a plain dot product: the same
 * integers with one add fewer per tap. */
#include "edgelstm.h"

static int32_t dot_s8(const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}

static int8_t requantize_output(const el_conv_s8_t *p, int32_t acc, int32_t o)
{
    acc = el_requantize(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
    return (int8_t)el_clamp_s32(acc, p->act_min, p->act_max);
}

void el_conv_s8(const el_conv_s8_t *p, const int8_t *x, int8_t *y)
{
    const int32_t in_ch = p->in_ch, out_ch = p->out_ch, kernel = p->kernel, dilation = p->dilation;
    const int32_t taps_len = kernel * in_ch;
    for (int32_t t = 0; t < p->out_len; ++t, y += out_ch) {
        const int32_t origin = t * p->stride - p->pad;   /* input step of tap 0 */
        const int8_t *w = p->weights;
        if (t >= p->first_full && t < p->last_full) {
            const int8_t *xt = x + origin * in_ch;
            for (int32_t o = 0; o < out_ch; ++o, w += taps_len) {
                int32_t acc = p->bias_folded[o];
                if (dilation == 1) {
                    acc += dot_s8(w, xt, taps_len);   /* the window is contiguous */
                } else {
                    for (int32_t k = 0; k < kernel; ++k) {
                        acc += dot_s8(w + k * in_ch, xt + k * dilation * in_ch, in_ch);
                    }
                }
                y[o] = requantize_output(p, acc, o);
            }
            continue;
        }
        for (int32_t o = 0; o < out_ch; ++o, w += taps_len) {
            int32_t acc = p->bias[o];
            for (int32_t k = 0; k < kernel; ++k) {
                const int32_t step = origin + k * dilation;
                if (step < 0 || step >= p->in_len) {
                    continue;   /* padding: skipped, as TFLite Micro skips it */
                }
                const int8_t *xs = x + step * in_ch, *wk = w + k * in_ch;
                for (int32_t i = 0; i < in_ch; ++i) {
                    acc += (int32_t)wk[i] * ((int32_t)xs[i] + p->input_offset);
                }
            }
            y[o] = requantize_output(p, acc, o);
        }
    }
}
