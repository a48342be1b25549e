/* edgelstm runtime: one int8 GRU layer, one timestep, in one kernel (gru_step_s8).
 *
 * The kernel computes exactly the int8 values of edgelstm's lowered GRU step graph (see
 * edgelstm/lower/cells.py), which TensorFlow Lite Micro runs op by op: per unit j
 *
 *     zx, rx, nx = FC(x)            zh, rh, nh = FC(h)          (reset_after = 1)
 *     zx, rx, nx = FC(x)            zh, rh     = FC(h)          (reset_after = 0)
 *     z = LOGISTIC(ADD(zx, zh))     r = LOGISTIC(ADD(rx, rh))
 *     reset_after = 1:  n = TANH(ADD(nx, MUL(r, nh)))
 *     reset_after = 0:  q = MUL(r, h) for all units, nh = FC(q), n = TANH(ADD(nx, nh))
 *     h_out = ADD(n, MUL(z, SUB(h, n)))
 *
 * every op rounded and saturated to int8 as TFLite Micro does. The generator
 * (edgelstm/export/gru_s8.py) precomputes everything TFLite Micro's Prepare functions compute,
 * and more, so the kernel only multiplies, adds, shifts and looks up:
 *
 *   - every requantization (FC outputs, ADD/SUB outputs, MUL outputs) is one el_gru_rq_t,
 *     evaluated by el_gru_requantize: the same integers as TFLite Micro's doubling high
 *     multiply followed by its rounding right shift; the values it reads are doubled
 *     (2 * accumulator, tables and gate factors stored doubled);
 *   - an ADD/SUB input rescale of an int8 value a, TFLite's rq((a - zp) << 20), has only 256
 *     possible results: it is a 256-entry int32 table (1 KB of flash each, 10 per layer);
 *   - LOGISTIC/TANH are folded into the tables that read their outputs: the MULs' gate tables give
 *     2 (sigmoid(pre) - zp) (int16), the SUB's and the last ADD's n tables the rescale of tanh(pre);
 *   - the input zero points are folded into the FC biases.
 *
 * Tables are indexed by the int8 value itself: the pointers point at entry 128 of 256.
 *
 * The kernel works on blocks of 4 units (units padded to a multiple of 4 with zero rows). Weights
 * are laid out for the dot-product loops, in the order the kernel reads them: per block, per FC
 * (zx zh rx rh nx nh; reset_after = 0: zx zh rx rh nx, and then, per block again, nh over q), a
 * group of 4 rows, the FC's rows of the block's 4 units,
 * interleaved per 4 columns (columns padded with zeros to a multiple of 4): chunk k of a group
 * holds one 4-byte word of each of its 4 rows, columns 4k .. 4k + 3. One pass over x (or h) feeds
 * 4 rows, and a group's 4 sums are one gate of 4 units: the MVE path finishes the FCs and the
 * elementwise ops of a block in vector lanes (4 units at a time). The three paths (plain C;
 * SXTB16/SMLAD when __ARM_FEATURE_DSP; VLD4 + VMLADAVA.S8 when __ARM_FEATURE_MVE, like the LSTM's)
 * read the same arrays, so one export folder builds for every core, and compute the same integers.
 */
#ifndef EL_GRU_S8_H
#define EL_GRU_S8_H

#include <stdint.h>

#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
#include <arm_acle.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One requantization to int8, TFLite's MultiplyByQuantizedMultiplier(acc, mult, shift) + zero_point
 * with shift < 0, saturated: from v = 2 * acc,
 *     y = sat8((k + sign(v) + ((v * mult + 2^31) >> 32)) >> rsh)      (sign(v) = -1 if v < 0, else 0)
 * with rsh = -shift and k = 2^(rsh - 1) + zero_point * 2^rsh (see el_gru_requantize). */
typedef struct {
    int32_t mult;
    int32_t k;
    int32_t rsh;
    int32_t qsh;                   /* 24 - rsh: the MVE path's saturating shift (see el_gru_s8.c) */
} el_gru_rq_t;

/* One FC row: its bias and its requantization (the rows of a group of 4 are 4 records in a row:
 * VLD4 puts each field of the 4 in one vector) */
typedef struct {
    int32_t bias2;                 /* 2 * bias, the input zero point folded in */
    int32_t mult;
    int32_t k;
    int32_t rsh;
} el_gru_row_t;

/* ADD or SUB of two int8 tensors: TFLite's input rescales rq((a - zp) << 20) of each input as
 * 256-entry tables (an int8 input has 256 values; 1 KB each), doubled, then one requantization */
typedef struct {
    const int32_t *t_a;            /* first input (pointer to entry 128: index with the int8 value) */
    const int32_t *t_b;            /* second input */
    el_gru_rq_t rq;
} el_gru_addsub_t;

/* MUL of a gate (sigmoid output, as 2 * (value - zp) over the gate's pre-activation) and an int8 */
typedef struct {
    const int16_t *t_gate;         /* 256 entries, pointer to entry 128 */
    int32_t offset;                /* -zero point of the other input */
    el_gru_rq_t rq;
} el_gru_mul_t;

typedef struct {
    int32_t input_size;
    int32_t units;
    int32_t reset_after;           /* 1: Keras reset_after=True (v3 default), 0: GRU v1 */
    int32_t x_cols;                /* input_size rounded up to a multiple of 4 (weight row stride) */
    int32_t h_cols;                /* units rounded up to a multiple of 4 */
    const int8_t *w;               /* per block of 4 units the groups zx zh rx rh nx nh (reset_after), or
                                      zx zh rx rh nx and then, per block, nh over q = MUL(r, h); each
                                      group 4 rows (see above); 48 bytes of tail */
    /* the FC rows, in the order of the groups (4 per group) */
    const el_gru_row_t *rows;
    el_gru_addsub_t add_z;         /* update.pre = ADD(update.x, update.h), tables over zx and zh */
    el_gru_addsub_t add_r;         /* reset.pre = ADD(reset.x, reset.h) */
    el_gru_mul_t mul_r;            /* candidate.rh = MUL(r, candidate.h) (reset_after) or MUL(r, h) */
    el_gru_addsub_t add_n;         /* candidate.pre = ADD(candidate.x, candidate.rh or candidate.h) */
    el_gru_addsub_t sub_hn;        /* hn = SUB(h, n): t_b indexed by candidate.pre (TANH folded in) */
    el_gru_mul_t mul_z;            /* zhn = MUL(z, hn) */
    el_gru_addsub_t add_h;         /* h_out = ADD(n, zhn): t_a indexed by candidate.pre (TANH folded in) */
} el_gru_s8_t;

/* Bytes of the work buffer gru_step_s8 needs (int32-aligned; not kept between steps). */
#define EL_GRU_S8_PAD16(n) (((n) + 15) / 16 * 16)
#define EL_GRU_S8_WORK_BYTES(input_size, units) \
    (2 * EL_GRU_S8_PAD16(input_size) + 3 * EL_GRU_S8_PAD16(units) + 2 * (((units) + 3) / 4 * 4))

/* One timestep: x[input_size], h[units] -> h_out[units] (h_out must not alias h). */
void el_gru_step_s8(const el_gru_s8_t *p, const int8_t *x, const int8_t *h, int8_t *h_out, int32_t *work);

/* ---- the requantization, shared by every path ----------------------------------------- */

#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
#define el_gru_sat8(v) __ssat((v), 8)
#else
static inline int32_t el_gru_sat8(int32_t v)
{
    return v < -128 ? -128 : (v > 127 ? 127 : v);
}
#endif

#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
/* SMMLAR: the high word of (acc << 32) + a * b + 2^31: the same integer as the C below */
static inline int32_t el_gru_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#else
static inline int32_t el_gru_smmlar(int32_t a, int32_t b, int32_t acc)
{
    /* adding acc * 2^32 before the shift adds acc after it */
    return acc + (int32_t)(((int64_t)a * (int64_t)b + (int64_t)0x80000000) >> 32);
}
#endif

/* TFLite's requantization for v = 2 * acc: SaturatingRoundingDoublingHighMul(acc, mult) equals
 * (v * mult + 2^31) >> 32 (both round ties towards +infinity; the one case that differs,
 * acc = mult = INT32_MIN, cannot occur), and its rounding right shift by rsh (ties away from zero)
 * equals an arithmetic shift after adding 2^(rsh - 1) - 1 for negative values, 2^(rsh - 1) for
 * others; k holds 2^(rsh - 1) plus the zero point << rsh, (v >> 31) the -1. The generator
 * (edgelstm/export/gru_s8.py) only fuses layers where rsh >= 1 and no intermediate can overflow,
 * and the tests check this against TFLite's two roundings on 1.5e8 cases. */
static inline int32_t el_gru_requantize(int32_t v, const el_gru_rq_t *q)
{
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
    /* mult and k in one LDRD (gcc pairs these loads only sometimes); a 64-bit lvalue gets an
     * address mode that LDRD accepts */
    typedef uint64_t el_gru_u64 __attribute__((may_alias, aligned(4)));
    int32_t mult, k;
    __asm__("ldrd %0, %1, %2" : "=r"(mult), "=r"(k) : "m"(*(const el_gru_u64 *)(const void *)&q->mult));
    return el_gru_sat8(el_gru_smmlar(v, mult, k + (v >> 31)) >> q->rsh);
#else
    return el_gru_sat8(el_gru_smmlar(v, q->mult, q->k + (v >> 31)) >> q->rsh);
#endif
}

/* ADD/SUB of two int8 values a, b through their tables */
static inline int32_t el_gru_add(int32_t a, int32_t b, const el_gru_addsub_t *op)
{
    return el_gru_requantize(op->t_a[a] + op->t_b[b], &op->rq);
}

static inline int32_t el_gru_sub(int32_t a, int32_t b, const el_gru_addsub_t *op)
{
    return el_gru_requantize(op->t_a[a] - op->t_b[b], &op->rq);
}

/* MUL of a gate pre-activation g (int8) and an int8 value b */
static inline int32_t el_gru_mul(int32_t g, int32_t b, const el_gru_mul_t *op)
{
    return el_gru_requantize((int32_t)op->t_gate[g] * (b + op->offset), &op->rq);
}

#ifdef __cplusplus
}
#endif

#endif /* EL_GRU_S8_H */
