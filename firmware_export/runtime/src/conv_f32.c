/* edgelstm runtime: CONV_2D as TFLite expresses a Conv1D (one spatial axis of length 1), float32.
 * Summed in TFLite's order (taps, then input channels, padded taps skipped), then the bias,
 * then the fused activation's clamp. */
#include "edgelstm.h"

void el_conv_f32(const el_conv_f32_t *p, const float *x, float *y)
{
    const int32_t in_ch = p->in_ch, out_ch = p->out_ch, kernel = p->kernel;
    for (int32_t t = 0; t < p->out_len; ++t, y += out_ch) {
        const int32_t origin = t * p->stride - p->pad;
        const float *w = p->weights;
        for (int32_t o = 0; o < out_ch; ++o, w += kernel * in_ch) {
            float acc = 0.0f;
            for (int32_t k = 0; k < kernel; ++k) {
                const int32_t step = origin + k * p->dilation;
                if (step < 0 || step >= p->in_len) {
                    continue;
                }
                const float *xs = x + step * in_ch, *wk = w + k * in_ch;
                for (int32_t i = 0; i < in_ch; ++i) {
                    acc += xs[i] * wk[i];
                }
            }
            acc += p->bias ? p->bias[o] : 0.0f;
            y[o] = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
        }
    }
}
