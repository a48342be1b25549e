/* edgelstm kernel microbenchmark: instructions of one runtime kernel over several sizes, for the
 * per-kernel cost terms `make bench` fits and writes into profiles/<core>.toml [calibration.kernels]
 * (edgelstm/bench/kernels.py generates kernel_cases.h and reads the results).
 *
 * kernel_cases.h defines KB_KERNEL (KB_FC, KB_SOFTMAX, KB_LUT, KB_ADD or KB_MUL), KB_CASES and
 * kb_cases[KB_CASES][2] (fc: input size, output size; the others: elements), and KB_MAX_* buffer
 * sizes; for fc also kb_weights, const (in flash, as an export's weights are). Biases, tables and
 * inputs are pseudo-random (a fixed LCG), parameters of the magnitudes TFLite's converter produces. Protocol: no input; out.bin = KB_CASES x uint64 SysTick
 * ticks of one call each, then a uint32 checksum of the outputs (keeps the calls alive).
 */
#include <stdint.h>

#include "board.h"
#include "edgelstm.h"
#include "kernel_cases.h"

#define KB_FC 1
#define KB_SOFTMAX 2
#define KB_LUT 3
#define KB_ADD 4
#define KB_MUL 5

static uint32_t lcg_state = 12345u;

static int8_t rnd8(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (int8_t)(lcg_state >> 24);
}

static int8_t in_a[KB_MAX_IN];
static int8_t in_b[KB_MAX_IN];
static int8_t out_y[KB_MAX_OUT];
#if KB_KERNEL == KB_FC
static int32_t bias[KB_MAX_OUT];
static int32_t mult[KB_MAX_OUT];
static int32_t shift[KB_MAX_OUT];
#elif KB_KERNEL == KB_LUT
static int8_t table[256];
#endif

static void run_case(int32_t a, int32_t b)
{
#if KB_KERNEL == KB_FC
    el_fc_s8_t p = {.rows = 1, .in_size = a, .out_size = b, .weights = kb_weights, .bias = bias,
                    .multiplier = mult, .shift = shift, .per_channel = 1, .output_offset = -3,
                    .act_min = -128, .act_max = 127};
    el_fc_s8(&p, in_a, out_y);
#elif KB_KERNEL == KB_SOFTMAX
    (void)b;
    /* input scale ~0.1, beta 1: TFLite's PreprocessSoftmaxScaling gives ~0.8 x 2^31, left shift 23 */
    el_softmax_s8_t p = {.rows = 1, .depth = a, .input_multiplier = 1717986918, .input_left_shift = 23,
                         .diff_min = -248};
    el_softmax_s8(&p, in_a, out_y);
#elif KB_KERNEL == KB_LUT
    (void)b;
    el_lut_s8(table, a, in_a, out_y);
#elif KB_KERNEL == KB_ADD
    (void)b;
    el_addsub_s8_t p = {.size = a, .left_shift = 20,
                        .input1_offset = 5, .input1_multiplier = 1073741824, .input1_shift = -1,
                        .input2_offset = -7, .input2_multiplier = 1518500250, .input2_shift = -2,
                        .output_offset = 2, .output_multiplier = 1342177280, .output_shift = -19,
                        .act_min = -128, .act_max = 127};
    el_add_s8(&p, in_a, in_b, out_y);
#elif KB_KERNEL == KB_MUL
    (void)b;
    el_mul_s8_t p = {.size = a, .input1_offset = 5, .input2_offset = -7, .output_offset = 2,
                     .multiplier = 1288490189, .shift = -7, .act_min = -128, .act_max = 127};
    el_mul_s8(&p, in_a, in_b, out_y);
#else
#error "KB_KERNEL must name a kernel"
#endif
}

int main(void)
{
    for (int32_t i = 0; i < KB_MAX_IN; ++i) {
        in_a[i] = rnd8();
        in_b[i] = rnd8();
    }
#if KB_KERNEL == KB_FC
    for (int32_t o = 0; o < KB_MAX_OUT; ++o) {
        bias[o] = (int32_t)rnd8() * 64;
        mult[o] = 1073741824 + (int32_t)(uint8_t)rnd8() * 4000000;
        shift[o] = -8;
    }
#elif KB_KERNEL == KB_LUT
    for (int32_t i = 0; i < 256; ++i) {
        table[i] = rnd8();
    }
#endif
    uint32_t sum = 0;
    for (int32_t k = 0; k < KB_CASES; ++k) {
        board_counter_start();
        run_case(kb_cases[k][0], kb_cases[k][1]);
        uint64_t ticks = board_counter_stop();
        board_write(&ticks, sizeof(ticks));
        for (int32_t i = 0; i < KB_MAX_OUT; ++i) {
            sum = sum * 31u + (uint8_t)out_y[i];
        }
    }
    board_write(&sum, sizeof(sum));
    return 0;
}
