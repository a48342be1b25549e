/* Streaming activity recognition: one IMU sample in, the most likely class out. */
#include <math.h>
#include "hx_model.h"

void imu_read(float sample[HX_INPUT_SIZE]);   /* your driver: one standardised sample */
void report(int cls, float probability);      /* your output: LED, radio, log */

static hx_state_t model;                      /* state carried between calls; no heap */
static uint64_t scratch[(HX_SCRATCH_BYTES + 7) / 8];   /* used only during a call: other models may share it */

int main(void)
{
    hx_reset(&model);
    for (;;) {
        float s[HX_INPUT_SIZE];
        int8_t x[HX_INPUT_SIZE], y[HX_OUTPUT_SIZE];
        imu_read(s);
        for (int i = 0; i < HX_INPUT_SIZE; ++i) {     /* quantize with the model's input scale */
            long q = lrintf(s[i] / HX_INPUT_SCALE) + HX_INPUT_ZERO_POINT;
            x[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
        }
        hx_step(&model, scratch, x, y);               /* h and c carried to the next call */
        int best = 0;
        for (int k = 1; k < HX_OUTPUT_SIZE; ++k) best = y[k] > y[best] ? k : best;
        report(best, (y[best] - HX_OUTPUT_ZERO_POINT) * HX_OUTPUT_SCALE);
    }
}
