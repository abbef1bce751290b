/* kern.h - the engine's elementwise kernels, compiled once per x86 vector
 * instruction set (kern_avx512.c, kern_avx2.c, kern_sse2.c include
 * kern_body.h under a target pragma) and picked at run time by what the CPU
 * supports, so one binary runs on any x86-64 and uses AVX-512 where present.
 *
 * Each kernel is serial over the range it is given: the ops (ops_*.c) split
 * the work among OpenMP threads and call the kernel per chunk. All variants
 * compute the same bits (vec16.h), which test_nn_isa checks.
 */
#ifndef BF_NN_KERN_H
#define BF_NN_KERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct bf_kern {
    const char *name; /* "avx512", "avx2", "sse2" (or "generic" off x86) */
    /* GELU (exact, erf form) of R rows of W: out = gelu(in + bias), bias (W)
     * or NULL */
    void (*gelu_fwd)(float *out, const float *in, const float *bias, int R, size_t W);
    /* din = dout * gelu'(in + bias); colsum (W) or NULL receives the column
     * sums of din over the R rows (float, row order) */
    void (*gelu_bwd)(float *din, const float *dout, const float *in, const float *bias,
                     float *colsum, int R, size_t W);
    /* GLU over R rows: in (R,2H) = [a | g] plus bias (2H) or NULL, out (R,H) =
     * (a + ba) sigmoid(g + bg); sig (rows at stride 2H, may be in + H)
     * receives the sigmoid for the backward, or NULL */
    void (*glu_fwd)(float *out, const float *in, const float *bias, float *sig, int R, int H);
    /* saved: in's g half holds the sigmoid as glu_fwd left it; colsum (2H)
     * or NULL receives the column sums of din over the R rows */
    void (*glu_bwd)(float *din, const float *dout, const float *in, const float *bias, int saved,
                    float *colsum, int R, int H);
    /* Depthwise causal dilated conv of one window, channel-last (ops.h):
     * out/in (L,H), w (H,K), b (H) or NULL. */
    void (*dwconv_fwd)(float *out, const float *in, const float *w, const float *b, int L, int H,
                       int K, int d);
    /* din (L,H) = (accum ? din : 0) + the transposed conv of dout (L,H) */
    void (*dwconv_bwd_in)(float *din, const float *dout, const float *w, int L, int H, int K, int d,
                          int accum);
    /* channels c0 .. c0+nc-1 (nc <= 16) over B windows: aw[k*16 + j] and
     * ab[j] += per-window float sums over t, window by window in order */
    void (*dwconv_bwd_w)(double *aw, double *ab, const float *dout, const float *in, int B, int L,
                         int H, int c0, int nc, int K, int d);
    /* Both gradients for one window: din as dwconv_bwd_in; part ((K+1),H):
     * part[k*H + c] = sum over t (in order) of dout[t,c] in[t-(K-1-k)d, c],
     * part[K*H + c] = sum over t of dout[t,c] (the window's float partials
     * that dwconv_bwd_w adds up) */
    void (*dwconv_bwd_win)(float *din, float *part, const float *dout, const float *in,
                           const float *w, int L, int H, int K, int d, int accum);
    /* Dropout on elements e0 .. e0+n-1 of a layer's mask (ops_elem.c has the
     * draw), written to out/mask/in[0 .. n); res: out = res + dropped (res
     * may be NULL, out may alias in or res). */
    void (*dropout)(float *out, uint8_t *mask, const float *in, const float *res, size_t e0,
                    size_t n, uint64_t key, uint32_t thresh, float scale, uint32_t layer,
                    uint32_t step, uint32_t salt);
    /* din = mask ? dout * scale : 0 over n elements */
    void (*dropout_bwd)(float *din, const float *dout, const uint8_t *mask, size_t n, float scale);
    /* columns c0 .. c0+nc-1 (nc <= 64) of src (N,W): acc[j] += float sums
     * over runs of 32 rows, run by run in order */
    void (*colsum)(double *acc, const float *src, int N, int W, int c0, int nc);
    /* GroupNorm of one window (L,H), G groups of H/G channels (G <= 64):
     * writes out, mean[G], rstd[G] */
    void (*gn_fwd)(float *out, float *mean, float *rstd, const float *in, const float *w,
                   const float *b, int L, int H, int G);
    /* its backward for one window: din (L,H); sw/sb (H) = this window's gain
     * and bias gradients (overwritten). dout is taken through a dropout
     * mask (mask ? dout * scale : 0) unless mask is NULL. */
    void (*gn_bwd)(float *din, float *sw, float *sb, const float *dout, const uint8_t *mask,
                   float scale, const float *in, const float *w, const float *mean,
                   const float *rstd, int L, int H, int G);
    /* LayerNorm of R rows of D: out, mean[R], rstd[R] */
    void (*ln_fwd)(float *out, float *mean, float *rstd, const float *in, const float *w,
                   const float *b, int R, int D);
    /* din for R rows */
    void (*ln_bwd_in)(float *din, const float *dout, const float *in, const float *w,
                      const float *mean, const float *rstd, int R, int D);
    /* columns c0 .. c0+nc-1 (nc <= 64) over N rows: aw[j] += sums of
     * dout * xhat, ab[j] += sums of dout, float over runs of 32 rows, run by
     * run in order */
    void (*ln_bwd_w)(double *aw, double *ab, const float *dout, const float *in, const float *mean,
                     const float *rstd, int N, int D, int c0, int nc);
    /* Attention of one (window, head): q, k, v rows of dh floats at stride ld,
     * T tokens; out rows at stride ldo; att (T,T) probabilities (0 above
     * the diagonal when causal). Returns 0, or -1 when T*dh is beyond the
     * kernel's stack scratch (BF_KERN_ATT_MAX; the caller falls back). */
    int (*attn_fwd)(float *out, int ldo, float *att, const float *q, const float *k, const float *v,
                    int ld, int T, int dh, float scale, int causal);
    /* its backward: dq, dk, dv rows at stride ld, overwritten */
    int (*attn_bwd)(float *dq, float *dk, float *dv, const float *dout, int ldo, const float *q,
                    const float *k, const float *v, int ld, const float *att, int T, int dh,
                    float scale, int causal);
    /* AdamW over n parameters (the update of adamw.c's bf_adamw_step, the
     * same operations in the same order: IEEE division and square root, no
     * fused multiply-add, so the same bits as a scalar loop) */
    void (*adamw)(float *p, const float *g, float *m, float *v, const uint8_t *decay_mask,
                  size_t n, float beta1, float beta2, float bc2_sqrt, float step_size,
                  float decay, float eps);
} bf_kern;

/* the most T*dh floats the attention kernels transpose on the stack */
#define BF_KERN_ATT_MAX 8192

/* The kernels in use: the widest the CPU supports unless bf_kern_select
 * chose others. */
const bf_kern *bf_kern_get(void);
/* Use the named variant ("avx512", "avx2", "sse2", "generic"), or the best
 * one for NULL. Returns 0, or -1 when the CPU lacks it (nothing changes).
 * For tests and benchmarks; call outside parallel regions. The environment
 * variable BARFORGE_NN_ISA names a variant for the first bf_kern_get. */
int bf_kern_select(const char *name);

#endif
