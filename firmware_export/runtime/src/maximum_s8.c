/* edgelstm runtime: MAXIMUM, int8: the larger raw value (both inputs and the output share one
 * scale and zero point, so no requantization: the lowered graph's max pooling). */
#include "edgelstm.h"

void el_maximum_s8(int32_t size, const int8_t *a, const int8_t *b, int8_t *y)
{
    for (int32_t k = 0; k < size; ++k) {
        y[k] = a[k] > b[k] ? a[k] : b[k];
    }
}
