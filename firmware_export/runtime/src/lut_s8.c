/* edgelstm runtime: table look-up for int8 LOGISTIC and TANH. */
#include "edgelstm.h"

void el_lut_s8(const int8_t table[256], int32_t size, const int8_t *x, int8_t *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = table[(uint8_t)x[k]];
    }
}
