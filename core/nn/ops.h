/* ops.h - the engine's layers as forward/backward pairs of free functions.
 *
 * Layout: activations are channel-last, rows x width, row-major ("N rows of
 * I floats"); a window of L steps with H channels is L consecutive rows.
 * Conventions, the same for every op:
 *   - outputs first, shapes in comments;
 *   - backward OVERWRITES the input gradient (din) unless it takes an
 *     `accum` flag, and ACCUMULATES (+=) into parameter gradients;
 *   - reductions over rows (bias, gain and weight gradients) run in a fixed
 *     order that does not depend on the thread count;
 *   - no op allocates: scratch comes from the caller.
 * Pointers that a backward does not need to produce may be NULL where noted.
 */
#ifndef BF_NN_OPS_H
#define BF_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

/* ---- linear / pointwise Conv1d: out (N,O) = in (N,In) . w(O,In)^T + b(O) (ops_linear.c) */
void bf_linear_forward(float *out, const float *in, const float *w, const float *b, int N, int In,
                       int O);
/* din (N,In) = (accum ? din : 0) + dout.w  (din may be NULL); dw (O,In) += dout^T.in;
 * db (O) += column sums of dout (db may be NULL). */
void bf_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int N, int In, int O, int accum);
/* The same with a workspace of bf_linear_scratch_floats(N, In, O) floats
 * (NULL: the weight gradient is one single-threaded GEMM): dw is then summed
 * over fixed row chunks of ~1024 (a function of N) in chunk order, the chunks and the input
 * gradient's row tiles sharing the threads. */
void bf_linear_backward_ws(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, int N, int In, int O, int accum, float *scratch);
size_t bf_linear_scratch_floats(int N, int In, int O);
/* out (N,O) = res (N,O) + b + in . w^T: a linear layer with a residual,
 * the GEMM accumulating onto the residual (no separate add pass). */
void bf_linear_residual_forward(float *out, const float *in, const float *w, const float *b,
                                const float *res, int N, int In, int O);
/* din (N,nc) = dout (N,O) . w[:, c0 .. c0+nc): the input gradient of some
 * input columns only (w (O,In)). */
void bf_linear_input_grad_cols(float *din, const float *dout, const float *w, int N, int In, int O,
                               int c0, int nc);
/* dst (W) += column sums of src (N,W), fixed order, double accumulation. */
void bf_colsum_add(float *dst, const float *src, int N, int W);
/* serially: acc (W doubles) += column sums of src (R, W), float over runs of
 * 32 rows added run by run (the chunked stages' bias-gradient partials) */
void bf_colsum_acc(double *acc, const float *src, int R, int W);
/* serially: din = mask ? dout / (1 - p) : 0 over n elements (a copy when
 * p <= 0) */
void bf_dropout_backward_range(float *din, const float *dout, const uint8_t *mask, size_t n,
                               float p);

/* Serial forms (one GEMM, the calling thread only) for callers that split
 * the rows themselves (model_stem.c); same arithmetic as one tile of the
 * parallel ops, bf16 under bf_nn_amp() for large enough shapes:
 *   out (N,O) = in . w^T + b (b may be NULL);
 *   din (N,In) = (accum ? din : 0) + dout (N,O) . w (O,In);
 * (wp: w packed by bf_linear_pack for that use, or NULL)
 *   dw (O,In) = (accum ? dw : 0) + dout^T . in. */
void bf_linear_forward_serial(float *out, const float *in, const float *w, const float *b, int N,
                              int In, int O, const uint16_t *wp);
void bf_linear_input_grad_serial(float *din, const float *dout, const float *w, int N, int In,
                                 int O, const uint16_t *wp, int accum);
/* out (N,O) += in . w^T (a residual branch added onto its stream) */
void bf_linear_forward_acc_serial(float *out, const float *in, const float *w, int N, int In,
                                  int O, const uint16_t *wp);
/* w (O,In) converted once for many serial calls under --use-amp: for the
 * forward (for_input_grad 0) or the input gradient (1), into dst
 * (bf_linear_pack_size(In, O) uint16). Returns dst, or NULL where the bf16
 * path does not apply (amp off, too narrow); pass the result as wp (NULL:
 * the serial forms convert w themselves or run fp32). */
size_t bf_linear_pack_size(int In, int O);
const uint16_t *bf_linear_pack(uint16_t *dst, const float *w, int In, int O, int for_input_grad);
void bf_linear_weight_grad_serial(float *dw, const float *dout, const float *in, int N, int In,
                                  int O, int accum);
/* db (W) += the run partials part (nruns, W), added in run order in double:
 * the reduction the GLU/GELU backward use for their bias gradients */
void bf_add_runs(float *db, const float *part, int nruns, int W);
/* elements e0 .. e0+n-1 of a dropout layer, serially: out/mask/in/res point
 * at element e0 (res may be NULL); same draws and arithmetic as
 * bf_dropout_add_forward over the whole tensor */
void bf_dropout_add_range(float *out, uint8_t *mask, const float *in, const float *res, size_t e0,
                          size_t n, float p, uint64_t seed, uint32_t salt, uint64_t step,
                          uint32_t layer);
/* out = res + (mask ? in / (1 - p) : 0) over n elements, serially, from a
 * mask bf_dropout_add_* drew: the same bits as the draw, without drawing */
void bf_dropout_add_replay(float *out, const uint8_t *mask, const float *in, const float *res,
                           size_t n, float p);
/* the second half of bf_dwconv_backward_ws: the B windows' partials
 * (scratch, (K+1)*H floats each) added in window order in double into
 * dw (H,K) and db (H) */
/* Software prefetch of bytes at p into L2 (a hint: no effect on results).
 * The chunked stages call it on the next sub-chunk's input streams so the
 * memory reads overlap the current sub-chunk's arithmetic. */
static inline void bf_prefetch_l2(const void *p, size_t bytes)
{
    const char *c = (const char *)p;
    for (size_t i = 0; i < bytes; i += 64)
        __builtin_prefetch(c + i, 0, 2);
}

void bf_dwconv_reduce(float *dw, float *db, const float *scratch, int B, int H, int K);

/* ---- elementwise (ops_elem.c) ------------------------------------------------ */
/* GLU over the width: in (N,2H) = [a | g], out (N,H) = a * sigmoid(g). */
void bf_glu_forward(float *out, const float *in, int N, int H);
void bf_glu_backward(float *din, const float *dout, const float *in, int N, int H);
/* The model's GLU with the pointwise conv's bias folded in: p (N,2H) is the
 * GEMM output without bias; out = (a + ba) sigmoid(g + bg), and p's g half
 * is overwritten with the sigmoid, which bf_glu_backward_saved reads instead
 * of recomputing it. Its backward also adds the bias gradient, the column
 * sums of din, to db (NULL: not) in bf_colsum_add's order; scratch:
 * ceil(N/32) * 2H floats. */
void bf_glu_forward_save(float *out, float *p, const float *bias, int N, int H);
void bf_glu_backward_saved(float *din, const float *dout, const float *p, const float *bias, int N,
                           int H, float *db, float *scratch);
/* GELU of a linear layer's output without its bias: out = gelu(in + bias)
 * over N rows of W; the backward adds the bias gradient (column sums of din,
 * bf_colsum_add's order) to db (NULL: not); scratch: ceil(N/32) * W floats. */
void bf_gelu_bias_forward(float *out, const float *in, const float *bias, int N, int W);
void bf_gelu_bias_backward(float *din, const float *dout, const float *in, const float *bias, int N,
                           int W, float *db, float *scratch);
/* exact GELU: 0.5 x (1 + erf(x / sqrt 2)), as torch.nn.GELU() */
void bf_gelu_forward(float *out, const float *in, size_t n);
void bf_gelu_backward(float *din, const float *dout, const float *in, size_t n);
/* out = a + b (out may alias a) */
void bf_add_forward(float *out, const float *a, const float *b, size_t n);
/* dst += src */
void bf_add_inplace(float *dst, const float *src, size_t n);
/* Inverted dropout with prob p: mask[i] = keep, a pure function of
 * (seed, salt, step, layer, i); out = in * mask / (1 - p). p == 0 copies
 * (mask untouched); out may alias in. */
void bf_dropout_forward(float *out, uint8_t *mask, const float *in, size_t n, float p,
                        uint64_t seed, uint32_t salt, uint64_t step, uint32_t layer);
/* out = res + dropout(in), one pass (res NULL: plain dropout); out may
 * alias in or res. With p == 0, out = res + in. */
void bf_dropout_add_forward(float *out, uint8_t *mask, const float *in, const float *res, size_t n,
                            float p, uint64_t seed, uint32_t salt, uint64_t step, uint32_t layer);
/* The same masks for R rows of W elements taken out of a larger buffer:
 * row r holds elements (row0 + r * row_step) * W + j of it. in, out and mask
 * are compact (R,W); out may alias in. */
void bf_dropout_rows_forward(float *out, uint8_t *mask, const float *in, int R, int W, int row0,
                             int row_step, float p, uint64_t seed, uint32_t salt, uint64_t step,
                             uint32_t layer);
void bf_dropout_backward(float *din, const float *dout, const uint8_t *mask, size_t n, float p);

/* ---- convolutions and token plumbing (ops_conv.c) ---------------------------- */
/* Depthwise causal dilated Conv1d, channel-last: in/out (B,L,H), w (H,K), b (H).
 * out[b,t,c] = b[c] + sum_k w[c,k] in[b, t-(K-1-k)d, c] (zero before t=0), i.e.
 * PyTorch Conv1d(groups=H, padding=(K-1)d, dilation=d) keeping the first L. */
void bf_dwconv_forward(float *out, const float *in, const float *w, const float *b, int B, int L,
                       int H, int K, int d);
void bf_dwconv_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int B, int L, int H, int K, int d, int accum);
/* The same with scratch of B*(K+1)*H floats: both gradients in one pass per
 * window, the windows' weight-gradient partials added in window order (the
 * same sums as bf_dwconv_backward); din, dw and db are all required. */
void bf_dwconv_backward_ws(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, int B, int L, int H, int K, int d, int accum,
                           float *scratch);
/* Channel-first windows + symbol embedding -> channel-last rows:
 * out (B,L,C+E): out[b,t,c] = x[b,c,t]; out[b,t,C+e] = emb[sym[b],e]. */
void bf_tile_forward(float *out, const float *x, const int32_t *sym, const float *emb, int B, int C,
                     int L, int E);
/* demb (n_symbols,E) += sum over t of the embedding columns of dout (B,L,C+E). */
void bf_tile_backward(float *demb, const float *dout, const int32_t *sym, int B, int C, int L,
                      int E);
/* Patches: in (B,L,H) -> cols (B*T, P*H), cols[b*T+t, p*H+c] = in[b, t*S+p, c]. */
void bf_im2col_forward(float *cols, const float *in, int B, int L, int H, int P, int S, int T);
/* din (B,L,H) = scatter-add of dcols (overlapping windows add). */
void bf_im2col_backward(float *din, const float *dcols, int B, int L, int H, int P, int S, int T);
/* x (B,T,D) += pos (T,D) */
void bf_pos_forward(float *x, const float *pos, int B, int T, int D);
/* dpos (T,D) += sum over b of dx (B,T,D) */
void bf_pos_backward(float *dpos, const float *dx, int B, int T, int D);
/* out (B,W,R) = transpose of each in (B,R,W) */
void bf_transpose(float *out, const float *in, int B, int R, int W, int accum);

/* ---- normalization (ops_norm.c), eps 1e-5 as PyTorch -------------------------- */
/* LayerNorm over the last dim: in/out (N,D), mean/rstd (N) saved for backward. */
void bf_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int N, int D);
void bf_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int N, int D);
/* GroupNorm, channel-last: in/out (B,L,H), G groups of H/G consecutive
 * channels, statistics over (L, H/G); mean/rstd (B,G). scratch: 2*B*H floats. */
void bf_groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int B, int L, int H, int G);
void bf_groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int B, int L,
                           int H, int G, float *scratch);
/* GroupNorm backward of dropout_backward(dout, mask, p) in one pass (the
 * dropped gradient is never written out). */
void bf_groupnorm_dropout_backward(float *din, float *dw, float *db, const float *dout,
                                   const uint8_t *mask, float p, const float *in, const float *w,
                                   const float *mean, const float *rstd, int B, int L, int H, int G,
                                   float *scratch);

/* ---- attention (ops_attn.c) ---------------------------------------------------- */
/* Multi-head self-attention core. qkv (B,T,3D) = [q | k | v], heads of D/NH
 * consecutive features; out (B,T,D); att (B,NH,T,T) softmax probabilities
 * saved for backward (entries above the diagonal are 0 when causal). */
void bf_attention_forward(float *out, float *att, const float *qkv, int B, int T, int D, int NH,
                          int causal);
/* dqkv (B,T,3D) overwritten; scratch: B*NH*T floats. */
void bf_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int D, int NH, int causal, float *scratch);

/* The same serially (the calling thread only) over B windows, for callers
 * that split the batch themselves; scratch as bf_attention_backward. */
void bf_attention_forward_serial(float *out, float *att, const float *qkv, int B, int T, int D,
                                 int NH, int causal);
void bf_attention_backward_serial(float *dqkv, const float *dout, const float *qkv,
                                  const float *att, int B, int T, int D, int NH, int causal,
                                  float *scratch);
/* Attention of each window's last query only (what a model that pools the
 * last token needs from its last layer; causal, so it sees all T keys):
 * q (B,D), kv (B,T,2D) = [k | v], out (B,D), att (B,NH,T). */
void bf_attention_last_forward(float *out, float *att, const float *q, const float *kv, int B,
                               int T, int D, int NH);
/* dq (B,D) and dkv (B,T,2D) overwritten; scratch: B*NH*T floats. */
void bf_attention_last_backward(float *dq, float *dkv, const float *dout, const float *q,
                                const float *kv, const float *att, int B, int T, int D, int NH,
                                float *scratch);

/* ---- losses (ops_elem.c): mean over B; dpred = d(loss)/d(pred) ------------------ */
double bf_huber_forward(const float *pred, const float *y, int B, float delta);
void bf_huber_backward(float *dpred, const float *pred, const float *y, int B, float delta);
double bf_mse_forward(const float *pred, const float *y, int B);
void bf_mse_backward(float *dpred, const float *pred, const float *y, int B);

#endif
