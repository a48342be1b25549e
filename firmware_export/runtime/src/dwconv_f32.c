/* edgelstm runtime: DEPTHWISE_CONV_2D as TFLite expresses a DepthwiseConv1D (one spatial axis of
 * length 1), float32. Output channel o = c * depth_multiplier + m: the products of input channel c
 * summed in TFLite's order (taps in order, padded taps skipped), then the bias, then the fused
 * activation's clamp. */
#include "edgelstm.h"

void el_dwconv_f32(const el_dwconv_f32_t *p, const float *x, float *y)
{
    const int32_t in_ch = p->in_ch, mult = p->depth_multiplier, out_ch = in_ch * mult;
    for (int32_t t = 0; t < p->out_len; ++t, y += out_ch) {
        const int32_t origin = t * p->stride - p->pad;
        for (int32_t c = 0; c < in_ch; ++c) {
            for (int32_t m = 0; m < mult; ++m) {
                const int32_t o = c * mult + m;
                float acc = 0.0f;
                for (int32_t k = 0; k < p->kernel; ++k) {
                    const int32_t step = origin + k * p->dilation;
                    if (step < 0 || step >= p->in_len) {
                        continue;
                    }
                    acc += x[step * in_ch + c] * p->weights[k * out_ch + o];
                }
                acc += p->bias ? p->bias[o] : 0.0f;
                y[o] = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
            }
        }
    }
}
