/* edgelstm runtime: one int8 GRU layer, one timestep (see el_gru_s8.h for the math and layout).
 *
 * The units go in blocks of 4; per block, 6 groups of 4 rows (zx rx nx over x, zh rh nh over h;
 * reset_after = 0: zh rh, and nh over q = MUL(r, h) in a second pass over the blocks), each group
 * one gate of the block's 4 units. Three paths, chosen by the compiler's feature macros, compute
 * the same integers:
 *   __ARM_FEATURE_MVE  (Cortex-M55/M85)      x and h staged as int8 zero padded to 16; per group
 *                                            VLD4 + 4 VMLADAVA.S8 per 16 columns (as the LSTM);
 *                                            the FC requantizations and the elementwise ops of a
 *                                            block in 4 vector lanes (gather loads of the tables)
 *   __ARM_FEATURE_DSP  (Cortex-M4/M7/M33)    x and h widened to 2x in int16 pairs once per step;
 *                                            SXTB16 + SMLAD, 4 rows per pass; a unit at a time
 *   otherwise          (Cortex-M0+/M3, host) plain C, a unit at a time
 * Every path computes v = 2 * (bias + sum w x) exactly in int32 (the generator bounds the sums). */
#include <stddef.h>
#include <string.h>

#include "el_gru_s8.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define EL_GRU_MVE 1
#elif defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
#include <arm_acle.h>
#define EL_GRU_DSP 1
#endif

#if defined(__GNUC__)
#define EL_GRU_INLINE static inline __attribute__((always_inline))
#else
#define EL_GRU_INLINE static inline
#endif

#if defined(EL_GRU_MVE)

/* v (n int8) into dst, zero padded to a multiple of 16 bytes */
static int8_t *el_gru_stage16(int8_t *dst, const int8_t *v, int32_t n)
{
    int8_t *d = dst;
    for (int32_t left = n; left > 0; left -= 16) {
        vstrbq_s8(d, vldrbq_z_s8(v, vctp8q((uint32_t)left)));   /* inactive lanes load 0 */
        v += 16;
        d += 16;
    }
    return dst;
}

/* s[0..3] = the 4 rows of a group (per 16 columns 16 words: VLD4 puts row r's 16 bytes in val[r])
 * times the staged v (passes >= 1 passes of 16 int8, zero padded: the weights read past the group
 * meet zeros) */
EL_GRU_INLINE void el_gru_dot4(int32_t *s, const int8_t *w8, const int8_t *v, int32_t passes)
{
    const int32_t *w = (const int32_t *)(const void *)w8;
    int8x16_t x = vldrbq_s8(v);
    int32x4x4_t r = vld4q_s32(w);
    int32_t s0 = vmladavq_s8(vreinterpretq_s8_s32(r.val[0]), x);
    int32_t s1 = vmladavq_s8(vreinterpretq_s8_s32(r.val[1]), x);
    int32_t s2 = vmladavq_s8(vreinterpretq_s8_s32(r.val[2]), x);
    int32_t s3 = vmladavq_s8(vreinterpretq_s8_s32(r.val[3]), x);
    for (int32_t i = passes - 1; i > 0; --i) {
        v += 16;
        w += 16;
        x = vldrbq_s8(v);
        r = vld4q_s32(w);
        s0 = vmladavaq_s8(s0, vreinterpretq_s8_s32(r.val[0]), x);
        s1 = vmladavaq_s8(s1, vreinterpretq_s8_s32(r.val[1]), x);
        s2 = vmladavaq_s8(s2, vreinterpretq_s8_s32(r.val[2]), x);
        s3 = vmladavaq_s8(s3, vreinterpretq_s8_s32(r.val[3]), x);
    }
    /* two STRD (gcc builds a vector on the stack and copies it) */
    __asm__("strd %1, %2, [%0]\n\tstrd %3, %4, [%0, #8]" : : "r"(s), "r"(s0), "r"(s1), "r"(s2), "r"(s3) : "memory");
}

/* The requantization of el_gru_requantize in 4 lanes: VRMULH is SMMLAR's (v m + 2^31) >> 32; the
 * saturating shift left by 24 - rsh (a right shift when negative) and the shift right by 24 give
 * sat8(t >> rsh): when rsh <= 24 the left shift saturates exactly when t >> rsh leaves [-128, 127],
 * and when rsh > 24, |t >> rsh| < 2^(31 - rsh) <= 64 needs no saturation. */
EL_GRU_INLINE int32x4_t el_gru_vrq(int32x4_t v, int32x4_t mult, int32x4_t k, int32x4_t qsh)
{
    const int32x4_t t = vaddq_s32(vrmulhq_s32(v, mult), vaddq_s32(k, vshrq_n_s32(v, 31)));
    return vshrq_n_s32(vqshlq_s32(t, qsh), 24);
}

/* An FC group's 4 sums s -> int8 values (in int32 lanes): the 4 row records by VLD4 (bias2, mult, k, rsh) */
EL_GRU_INLINE int32x4_t el_gru_vfc(const int32_t *s, const el_gru_row_t *r)
{
    const int32x4_t acc = vldrwq_s32(s);
    const int32x4x4_t f = vld4q_s32((const int32_t *)(const void *)r);
    const int32x4_t v = vaddq_s32(vaddq_s32(acc, acc), f.val[0]);
    return el_gru_vrq(v, f.val[1], f.val[2], vsubq_s32(vdupq_n_s32(24), f.val[3]));
}

/* Two int32 fields at [P + OFF] in one LDRD (gcc loads them one by one). Volatile: gcc would hoist
 * the constants of every op out of the block loop and spill them (and their VDUPs) to the stack. */
#define EL_GRU_PAIR(a, b, P, OFF) __asm__ volatile("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(b) : "r"(P), "n"(OFF))

/* Table look-ups by int8 values (the tables point at entry 128; a negative offset wraps the 32-bit
 * address computation to below the pointer) */
#define EL_GRU_T32(t, i) vldrwq_gather_shifted_offset_s32((t), vreinterpretq_u32_s32(i))
#define EL_GRU_T16(t, i) vldrhq_gather_shifted_offset_s32((t), vreinterpretq_u32_s32(i))

/* The elementwise ops in 4 lanes (P the layer, OP the op's member) */
#define EL_GRU_VRQ1(v, P, OP)                                                                          \
    __extension__({                                                                                    \
        int32_t m_, k_;                                                                                \
        EL_GRU_PAIR(m_, k_, P, offsetof(el_gru_s8_t, OP.rq.mult));                                     \
        const int32x4_t t_ = vaddq_s32(vrmulhq_s32((v), vdupq_n_s32(m_)), vaddq_n_s32(vshrq_n_s32((v), 31), k_)); \
        int32_t q_;                                                                                    \
        __asm__ volatile("ldr %0, [%1, %2]" : "=r"(q_) : "r"(P), "n"(offsetof(el_gru_s8_t, OP.rq.qsh)));  \
        vshrq_n_s32(vqshlq_r_s32(t_, q_), 24);                                                         \
    })
#define EL_GRU_VADDSUB(P, OP, A, VOP, B)                                                               \
    __extension__({                                                                                    \
        const int32_t *ta_, *tb_;                                                                      \
        EL_GRU_PAIR(ta_, tb_, P, offsetof(el_gru_s8_t, OP.t_a));                                       \
        const int32x4_t v_ = VOP(EL_GRU_T32(ta_, A), EL_GRU_T32(tb_, B));                              \
        EL_GRU_VRQ1(v_, P, OP);                                                                        \
    })
#define EL_GRU_VADD(P, OP, A, B) EL_GRU_VADDSUB(P, OP, A, vaddq_s32, B)
#define EL_GRU_VSUB(P, OP, A, B) EL_GRU_VADDSUB(P, OP, A, vsubq_s32, B)
#define EL_GRU_VMUL(P, OP, G, B)                                                                       \
    __extension__({                                                                                    \
        const int16_t *tg_;                                                                            \
        int32_t off_;                                                                                  \
        EL_GRU_PAIR(tg_, off_, P, offsetof(el_gru_s8_t, OP.t_gate));                                   \
        const int32x4_t v_ = vmulq_s32(EL_GRU_T16(tg_, G), vaddq_n_s32((B), off_));                    \
        EL_GRU_VRQ1(v_, P, OP);                                                                        \
    })

/* h_out of a block from n and z: ADD(n, MUL(z, SUB(h, n))) */
EL_GRU_INLINE void el_gru_vupdate(const el_gru_s8_t *p, int32x4_t n, int32x4_t z, const int8_t *h, int8_t *h_out,
                                  mve_pred16_t lanes)
{
    const int32x4_t hn = EL_GRU_VSUB(p, sub_hn, vldrbq_z_s32(h, lanes), n);
    const int32x4_t zhn = EL_GRU_VMUL(p, mul_z, z, hn);
    vstrbq_p_s32(h_out, EL_GRU_VADD(p, add_h, n, zhn), lanes);
}

void el_gru_step_s8(const el_gru_s8_t *p, const int8_t *x, const int8_t *h, int8_t *h_out, int32_t *work)
{
    const int32_t units = p->units, u4 = (units + 3) & ~3;
    const int32_t gx = 4 * p->x_cols, gh = 4 * p->h_cols;   /* bytes per group */
    const int32_t px = (p->input_size + 15) / 16, ph = (units + 15) / 16;
    /* work: [x: 16 px][h: 16 ph][q: 16 ph][z: u4][nx: u4] */
    int8_t *const xs = el_gru_stage16((int8_t *)work, x, p->input_size);
    int8_t *const hs = el_gru_stage16(xs + 16 * px, h, units);
    const int8_t *w = p->w;
    const el_gru_row_t *r = p->rows;
    int32_t s[24] __attribute__((aligned(16)));   /* a block's sums: zx zh rx rh nx nh, 4 units each */
    if (p->reset_after) {
        for (int32_t u0 = 0; u0 < units; u0 += 4, r += 24) {
            for (int32_t g = 0; g < 24; g += 8, w += gx + gh) {
                el_gru_dot4(s + g, w, xs, px);
                el_gru_dot4(s + g + 4, w + gx, hs, ph);
            }
            const mve_pred16_t lanes = vctp32q((uint32_t)(units - u0));
            const int32x4_t z = EL_GRU_VADD(p, add_z, el_gru_vfc(s, r), el_gru_vfc(s + 4, r + 4));
            const int32x4_t rg = EL_GRU_VADD(p, add_r, el_gru_vfc(s + 8, r + 8), el_gru_vfc(s + 12, r + 12));
            const int32x4_t rnh = EL_GRU_VMUL(p, mul_r, rg, el_gru_vfc(s + 20, r + 20));
            const int32x4_t n = EL_GRU_VADD(p, add_n, el_gru_vfc(s + 16, r + 16), rnh);
            el_gru_vupdate(p, n, z, h + u0, h_out + u0, lanes);
        }
        return;
    }
    /* reset_after = 0: q = MUL(r, h) of every unit first (zero past the units: the candidate's
     * recurrent FC reads whole passes of it); z and the candidate's x part kept as int8 */
    int8_t *const qs = hs + 16 * ph, *const zb = qs + 16 * ph, *const nxb = zb + u4;
    for (int32_t i = 0; i < ph; ++i) {
        vstrbq_s8(qs + 16 * i, vdupq_n_s8(0));
    }
    for (int32_t u0 = 0; u0 < units; u0 += 4, r += 20) {
        for (int32_t g = 0; g < 16; g += 8, w += gx + gh) {
            el_gru_dot4(s + g, w, xs, px);
            el_gru_dot4(s + g + 4, w + gx, hs, ph);
        }
        el_gru_dot4(s + 16, w, xs, px);
        w += gx;
        const mve_pred16_t lanes = vctp32q((uint32_t)(units - u0));
        vstrbq_s32(zb + u0, EL_GRU_VADD(p, add_z, el_gru_vfc(s, r), el_gru_vfc(s + 4, r + 4)));
        const int32x4_t rg = EL_GRU_VADD(p, add_r, el_gru_vfc(s + 8, r + 8), el_gru_vfc(s + 12, r + 12));
        vstrbq_p_s32(qs + u0, EL_GRU_VMUL(p, mul_r, rg, vldrbq_z_s32(h + u0, lanes)), lanes);
        vstrbq_s32(nxb + u0, el_gru_vfc(s + 16, r + 16));
    }
    for (int32_t u0 = 0; u0 < units; u0 += 4, w += gh, r += 4) {
        el_gru_dot4(s, w, qs, ph);
        const mve_pred16_t lanes = vctp32q((uint32_t)(units - u0));
        const int32x4_t n = EL_GRU_VADD(p, add_n, vldrbq_s32(nxb + u0), el_gru_vfc(s, r));
        el_gru_vupdate(p, n, vldrbq_s32(zb + u0), h + u0, h_out + u0, lanes);
    }
}

#else /* the scalar paths: a unit at a time */

#if defined(EL_GRU_DSP)

/* v (n int8) -> 2 v as int16 pairs per 4 values: (v0, v2), (v1, v3), the order SXTB16 gives the
 * weights; zero padded to a multiple of 4 values */
static void el_gru_widen(const int8_t *v, int32_t n, uint32_t *ve)
{
    for (int32_t j = 0; j < n; j += 4) {
        uint32_t w = 0;
        if (n - j >= 4) {
            memcpy(&w, v + j, 4);
        } else {
            for (int32_t b = 0; b < n - j; ++b) {
                w |= (uint32_t)(uint8_t)v[j + b] << (8 * b);
            }
        }
        uint32_t even = __sxtb16(w), odd;
        __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(w));
        *ve++ = __sadd16(even, even);
        *ve++ = __sadd16(odd, odd);
    }
}

/* One chunk (4 columns) of the 4 rows of a group (4 weight words, post-incremented w) against the
 * widened pairs (post-incremented xe): 19 instructions for 16 MACs. Assembly: gcc 12 has no
 * SXTB16-with-rotate intrinsic and, given the intrinsics, spills the accumulators. */
#define EL_GRU_CHUNK                          \
    "ldrd   %[xa], %[xb], [%[xe]], #8\n\t"    \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"     \
    "sxtb16 %[t], %[w0]\n\t"                  \
    "smlad  %[a0], %[t], %[xa], %[a0]\n\t"    \
    "sxtb16 %[t], %[w0], ror #8\n\t"          \
    "smlad  %[a0], %[t], %[xb], %[a0]\n\t"    \
    "sxtb16 %[t], %[w1]\n\t"                  \
    "smlad  %[a1], %[t], %[xa], %[a1]\n\t"    \
    "sxtb16 %[t], %[w1], ror #8\n\t"          \
    "smlad  %[a1], %[t], %[xb], %[a1]\n\t"    \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"     \
    "sxtb16 %[t], %[w0]\n\t"                  \
    "smlad  %[a2], %[t], %[xa], %[a2]\n\t"    \
    "sxtb16 %[t], %[w0], ror #8\n\t"          \
    "smlad  %[a2], %[t], %[xb], %[a2]\n\t"    \
    "sxtb16 %[t], %[w1]\n\t"                  \
    "smlad  %[a3], %[t], %[xa], %[a3]\n\t"    \
    "sxtb16 %[t], %[w1], ror #8\n\t"          \
    "smlad  %[a3], %[t], %[xb], %[a3]\n\t"
#define EL_GRU_CHUNK_OPERANDS                                                                        \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [xe] "+r"(xe),          \
        [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)

/* v[0..3] += the 4 rows of a group (chunks chunks from w) times the widened xe, doubled; returns w
 * past the group */
EL_GRU_INLINE const int8_t *el_gru_dot4(int32_t *v, const int8_t *w8, const int8_t *x, const uint32_t *xe, int32_t cols,
                               int32_t chunks)
{
    (void)x;
    (void)cols;
    const uint32_t *w = (const uint32_t *)(const void *)w8;
    int32_t a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3];
    uint32_t xa, xb, w0, w1, t;
    int32_t quads = chunks >> 2;
    if (quads > 0) {   /* 4 chunks per pass: the loop's SUBS/BNE on 64 MACs */
        __asm__("1:\n\t" EL_GRU_CHUNK EL_GRU_CHUNK EL_GRU_CHUNK EL_GRU_CHUNK
                "subs   %[n], %[n], #1\n\t"
                "bne    1b\n\t"
                : EL_GRU_CHUNK_OPERANDS, [n] "+r"(quads)
                :
                : "cc", "memory");
    }
    if (chunks & 2) {
        __asm__(EL_GRU_CHUNK EL_GRU_CHUNK : EL_GRU_CHUNK_OPERANDS : : "memory");
    }
    if (chunks & 1) {
        __asm__(EL_GRU_CHUNK : EL_GRU_CHUNK_OPERANDS : : "memory");
    }
    v[0] = a0, v[1] = a1, v[2] = a2, v[3] = a3;
    return (const int8_t *)(const void *)w;
}
#define EL_GRU_VEC uint32_t

#else /* plain C */

#if defined(__ARM_ARCH_6M__)
/* Cortex-M0+: LDRSB takes only a register offset (MOVS + LDRSB per byte); one LDR per row word and
 * the bytes by shifts instead (the groups are word aligned) */
#define EL_GRU_ROW4(acc, wr)                                                                           \
    do {                                                                                               \
        const uint32_t w_ = *(const uint32_t *)(const void *)(wr);                                     \
        acc += x0 * (int8_t)w_ + x1 * ((int32_t)(w_ << 16) >> 24) + x2 * ((int32_t)(w_ << 8) >> 24) + \
               x3 * ((int32_t)w_ >> 24);                                                               \
    } while (0)
#else
#define EL_GRU_ROW4(acc, wr) (acc += x0 * (wr)[0] + x1 * (wr)[1] + x2 * (wr)[2] + x3 * (wr)[3])
#endif

/* v[0..3] += 2 x the 4 rows of a group (chunks chunks of 4 columns from w) times x[cols]; returns w
 * past the group */
EL_GRU_INLINE const int8_t *el_gru_dot4(int32_t *v, const int8_t *w, const int8_t *x, const int32_t *xe, int32_t cols,
                               int32_t chunks)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const int32_t full = cols / 4;   /* chunks with 4 real columns; a last one may have 1 to 3 */
    (void)xe;
    for (int32_t k = 0; k < full; ++k, x += 4, w += 16) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        EL_GRU_ROW4(a0, w);
        EL_GRU_ROW4(a1, w + 4);
        EL_GRU_ROW4(a2, w + 8);
        EL_GRU_ROW4(a3, w + 12);
    }
    if (full < chunks) {   /* the weights past cols are zero: read x only up to cols */
        const int32_t n = cols - 4 * full;
        const int32_t x0 = x[0], x1 = n > 1 ? x[1] : 0, x2 = n > 2 ? x[2] : 0, x3 = 0;
        EL_GRU_ROW4(a0, w);
        EL_GRU_ROW4(a1, w + 4);
        EL_GRU_ROW4(a2, w + 8);
        EL_GRU_ROW4(a3, w + 12);
        w += 16;
    }
    v[0] += 2 * a0;
    v[1] += 2 * a1;
    v[2] += 2 * a2;
    v[3] += 2 * a3;
    return w;
}
#define EL_GRU_VEC int32_t

#endif

/* An FC row's requantization (as el_gru_requantize) */
EL_GRU_INLINE int32_t el_gru_rq_row(int32_t v, const el_gru_row_t *r)
{
#if defined(EL_GRU_DSP)
    typedef uint64_t el_gru_u64 __attribute__((may_alias, aligned(4)));
    int32_t mult, k;
    __asm__("ldrd %0, %1, %2" : "=r"(mult), "=r"(k) : "m"(*(const el_gru_u64 *)(const void *)&r->mult));
    return el_gru_sat8(el_gru_smmlar(v, mult, k + (v >> 31)) >> r->rsh);
#else
    return el_gru_sat8(el_gru_smmlar(v, r->mult, r->k + (v >> 31)) >> r->rsh);
#endif
}

/* A group: out[0..3] = the 4 rows (records r) times v, requantized; returns w past the group */
EL_GRU_INLINE const int8_t *el_gru_group(const int8_t *w, const el_gru_row_t *r, const int8_t *x, const EL_GRU_VEC *xe,
                                         int32_t cols, int32_t chunks, int8_t *out)
{
    int32_t v[4] = {r[0].bias2, r[1].bias2, r[2].bias2, r[3].bias2};
    w = el_gru_dot4(v, w, x, xe, cols, chunks);
    out[0] = (int8_t)el_gru_rq_row(v[0], &r[0]);
    out[1] = (int8_t)el_gru_rq_row(v[1], &r[1]);
    out[2] = (int8_t)el_gru_rq_row(v[2], &r[2]);
    out[3] = (int8_t)el_gru_rq_row(v[3], &r[3]);
    return w;
}

/* The layer's elementwise ops. With the DSP extension (and gcc), each op's constants come in two
 * LDRDs at [p, #offset] (its two table pointers, or gate table and offset; then mult and k): gcc
 * loads them one by one, and through spilled addresses when they are asm memory operands. */
#if defined(__ARM_FEATURE_DSP) && (__ARM_FEATURE_DSP == 1) && defined(__GNUC__)
#define EL_GRU_PAIR(a, b, P, OFF) __asm__("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(b) : "r"(P), "n"(OFF))
#define EL_GRU_RQ_AT(v, P, OP)                                                                         \
    __extension__({                                                                                    \
        int32_t m_, k_;                                                                                \
        EL_GRU_PAIR(m_, k_, P, offsetof(el_gru_s8_t, OP.rq.mult));                                     \
        el_gru_sat8(el_gru_smmlar(v, m_, k_ + ((v) >> 31)) >> (P)->OP.rq.rsh);                         \
    })
#define EL_GRU_ADDSUB(P, OP, A, SIGN, B)                                                               \
    __extension__({                                                                                    \
        const int32_t *ta_, *tb_;                                                                      \
        EL_GRU_PAIR(ta_, tb_, P, offsetof(el_gru_s8_t, OP.t_a));                                       \
        const int32_t v_ = ta_[A] SIGN tb_[B];                                                         \
        EL_GRU_RQ_AT(v_, P, OP);                                                                       \
    })
#define EL_GRU_ADD(P, OP, A, B) EL_GRU_ADDSUB(P, OP, A, +, B)
#define EL_GRU_SUB(P, OP, A, B) EL_GRU_ADDSUB(P, OP, A, -, B)
#define EL_GRU_MUL(P, OP, G, B)                                                                        \
    __extension__({                                                                                    \
        const int16_t *tg_;                                                                            \
        int32_t off_;                                                                                  \
        EL_GRU_PAIR(tg_, off_, P, offsetof(el_gru_s8_t, OP.t_gate));                                   \
        const int32_t v_ = (int32_t)tg_[G] * ((B) + off_);                                             \
        EL_GRU_RQ_AT(v_, P, OP);                                                                       \
    })
#else
#define EL_GRU_ADD(P, OP, A, B) el_gru_add(A, B, &(P)->OP)
#define EL_GRU_SUB(P, OP, A, B) el_gru_sub(A, B, &(P)->OP)
#define EL_GRU_MUL(P, OP, G, B) el_gru_mul(G, B, &(P)->OP)
#endif

/* n = TANH(candidate.pre) folded into the tables, then h_out = ADD(n, MUL(z, SUB(h, n))) */
EL_GRU_INLINE int32_t el_gru_update(const el_gru_s8_t *p, int32_t npre, int32_t zpre, int32_t h)
{
    const int32_t hn = EL_GRU_SUB(p, sub_hn, h, npre);
    const int32_t zhn = EL_GRU_MUL(p, mul_z, zpre, hn);
    return EL_GRU_ADD(p, add_h, npre, zhn);
}

void el_gru_step_s8(const el_gru_s8_t *p, const int8_t *x, const int8_t *h, int8_t *h_out, int32_t *work)
{
    const int32_t units = p->units, u4 = (units + 3) & ~3, in = p->input_size;
    const int32_t cx = p->x_cols / 4, ch = p->h_cols / 4;   /* chunks of 4 columns */
    /* work: [x widened: 2 x16][h or q widened: 2 h16][q: h16][z: u4][nx: u4] */
    EL_GRU_VEC *const xe = (EL_GRU_VEC *)work;
    EL_GRU_VEC *const he = xe + EL_GRU_S8_PAD16(in) / 2;
    int8_t *const q = (int8_t *)(he + EL_GRU_S8_PAD16(units) / 2);
    int8_t *const zb = q + EL_GRU_S8_PAD16(units), *const nxb = zb + u4;
#if defined(EL_GRU_DSP)
    el_gru_widen(x, in, xe);
    el_gru_widen(h, units, he);
#endif
    const int8_t *w = p->w;
    const el_gru_row_t *r = p->rows;
    int8_t f[24];   /* a block's FC outputs: zx zh rx rh nx nh (4 units each) */
    if (p->reset_after) {
        for (int32_t u0 = 0; u0 < units; u0 += 4) {
            for (int8_t *o = f; o != f + 24; o += 8, r += 8) {
                w = el_gru_group(w, r, x, xe, in, cx, o);
                w = el_gru_group(w, r + 4, h, he, units, ch, o + 4);
            }
            const int32_t lanes = units - u0 < 4 ? units - u0 : 4;
            for (int32_t l = 0; l < lanes; ++l) {
                const int8_t *a = f + l;
                const int32_t z = EL_GRU_ADD(p, add_z, a[0], a[4]);
                const int32_t rg = EL_GRU_ADD(p, add_r, a[8], a[12]);
                const int32_t rnh = EL_GRU_MUL(p, mul_r, rg, a[20]);
                const int32_t n = EL_GRU_ADD(p, add_n, a[16], rnh);
                h_out[u0 + l] = (int8_t)el_gru_update(p, n, z, h[u0 + l]);
            }
        }
        return;
    }
    /* reset_after = 0: q = MUL(r, h) for every unit first; the candidate's recurrent FC reads all of q */
    for (int32_t u0 = 0; u0 < units; u0 += 4) {
        for (int8_t *o = f; o != f + 16; o += 8, r += 8) {
            w = el_gru_group(w, r, x, xe, in, cx, o);
            w = el_gru_group(w, r + 4, h, he, units, ch, o + 4);
        }
        w = el_gru_group(w, r, x, xe, in, cx, f + 16);
        r += 4;
        const int32_t lanes = units - u0 < 4 ? units - u0 : 4;
        for (int32_t l = 0; l < lanes; ++l) {
            const int8_t *a = f + l;
            zb[u0 + l] = (int8_t)EL_GRU_ADD(p, add_z, a[0], a[4]);
            const int32_t rg = EL_GRU_ADD(p, add_r, a[8], a[12]);
            q[u0 + l] = (int8_t)EL_GRU_MUL(p, mul_r, rg, h[u0 + l]);
            nxb[u0 + l] = a[16];
        }
    }
#if defined(EL_GRU_DSP)
    el_gru_widen(q, units, he);
#endif
    for (int32_t u0 = 0; u0 < units; u0 += 4, r += 4) {
        w = el_gru_group(w, r, q, he, units, ch, f);
        const int32_t lanes = units - u0 < 4 ? units - u0 : 4;
        for (int32_t l = 0; l < lanes; ++l) {
            const int32_t n = EL_GRU_ADD(p, add_n, nxb[u0 + l], f[l]);
            h_out[u0 + l] = (int8_t)el_gru_update(p, n, zb[u0 + l], h[u0 + l]);
        }
    }
}

#endif
