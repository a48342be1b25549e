/* edgelstm benchmark harness for CMSIS-NN's arm_lstm_unidirectional_s8 (edgelstm's own code).
 *
 * CMSIS-NN (Apache-2.0, https://github.com/ARM-software/CMSIS-NN) is a peer we measure against:
 * its sources are compiled from CMSIS_NN_DIR by edgelstm/bench/cmsis_nn.py and never copied into
 * this repository or into edgelstm's runtime. The shape, the random int8 weights, the effective
 * biases and the quantization parameters come from cnn_lstm_data.c, which the same script
 * generates for each shape (all const: in flash, like an exported model's weights).
 *
 * Protocol (semihosting files, board.h): in.bin = T x I int8 input sequence;
 * out.bin = T x H int8 outputs, int32 status, uint64 SysTick ticks of the call, uint32 stack peak.
 * State as TensorFlow Lite Micro keeps it after a reset: hidden state = the output zero point,
 * cell state = 0, passed in (hidden_state != NULL, so every step, the first included, runs the
 * recurrent matrix product, as edgelstm's hx_run does).
 */
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "board.h"
#include "cnn_lstm_data.h"

/* RAM the call needs (besides the stack): cell state, hidden state, two int16 gate scratch
 * buffers, and the output sequence, which arm_lstm_unidirectional_s8 writes for every step
 * and reads back as the next step's hidden input. */
static int16_t cnn_cell_state[CNN_HIDDEN];
static int8_t cnn_hidden_state[CNN_HIDDEN];
static int16_t cnn_temp1[CNN_HIDDEN];
static int16_t cnn_temp2[CNN_HIDDEN];
static int8_t cnn_output[CNN_STEPS * CNN_HIDDEN];
/* The caller's input sequence (not counted as the kernel's RAM). */
static int8_t io_input[CNN_STEPS * CNN_INPUT];

int main(void)
{
    if (board_read(io_input, sizeof(io_input)) != 0) {
        return 2;
    }
    memset(cnn_cell_state, 0, sizeof(cnn_cell_state));
    memset(cnn_hidden_state, (int)(int8_t)CNN_OUTPUT_ZERO_POINT, sizeof(cnn_hidden_state));
    cmsis_nn_lstm_context ctx = {cnn_temp1, cnn_temp2, cnn_cell_state, cnn_hidden_state};

    board_counter_start();
    int32_t status = (int32_t)arm_lstm_unidirectional_s8(io_input, cnn_output, &cnn_lstm_params, &ctx);
    uint64_t ticks = board_counter_stop();

    uint32_t peak = board_stack_peak();
    board_write(cnn_output, sizeof(cnn_output));
    board_write(&status, sizeof(status));
    board_write(&ticks, sizeof(ticks));
    board_write(&peak, sizeof(peak));
    return status == 0 ? 0 : 6;
}
