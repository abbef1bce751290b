/* model.c - forward and backward of the whole model over preallocated buffers.
 *
 * Stages (docs/model.md has the shapes): tile -> stem.in -> blocks
 * [s += drop(GN(GLU(pw(dw(s)))))] -> mixer -> tokenizer (+pos, drop) ->
 * pre-norm causal Transformer layers -> ln_f(last token) -> head -> loss.
 * Backward walks the same stages in reverse with a handful of scratch
 * buffers (gS: stem stream, gX: token stream, gA/gB: per-stage temporaries).
 * Dropout layer ids: stem block i -> 1+i, tokens -> 1000, layer l attention
 * -> 2000+2l, layer l MLP -> 2001+2l.
 * The key part of every qkv bias gets gradient 0: adding a constant vector to
 * all keys adds the same q.b to every score of a softmax row, which the
 * softmax ignores, so the exact gradient is 0 and what a GEMM leaves there is
 * rounding noise that Adam would otherwise turn into a random walk.
 */
#include <math.h>
#include <string.h>

#include "core/nn/model_impl.h"
#include "core/nn/ops.h"

#define DROP_TOKENS 1000u
#define DROP_LAYER  2000u

/* The last Transformer layer for the last token of each window only: the
 * head reads nothing else, and under the causal mask the other tokens' keys
 * and values are all the last query needs from them. LN1 and the k/v
 * projection run over all NT tokens; q, attention, proj, LN2, the MLP and
 * both dropouts over B rows (the masks those rows would draw in the full
 * buffer). Its activations are compact (B rows); x2 is im->last. */
static void last_layer_forward(struct bf_model_impl *im, const bf_layer_view *w, int l, int B,
                               float pt, uint64_t seed, uint32_t salt, uint64_t step)
{
    const bf_dims *d = &im->d;
    const int T = d->T, D = d->D, NT = B * T;
    bf_layer_acts *a = &im->lay[l];
    const float *xl = im->xs[l];
    float *kv = a->qkv, *q = a->qkv + (size_t)NT * 2 * D;
    bf_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, xl, w->ln1_w, w->ln1_b, NT, D);
    bf_linear_forward(kv, a->ln1, w->qkv_w + (size_t)D * D, w->qkv_b + D, NT, D, 2 * D);
    for (int b = 0; b < B; b++)
        memcpy(im->lnq + (size_t)b * D, a->ln1 + ((size_t)b * T + T - 1) * D,
               (size_t)D * sizeof(float));
    bf_linear_forward(q, im->lnq, w->qkv_w, w->qkv_b, B, D, D);
    bf_attention_last_forward(a->ao, a->att, q, kv, B, T, D, d->NH);
    bf_linear_forward(a->pr, a->ao, w->proj_w, w->proj_b, B, D, D);
    bf_dropout_rows_forward(im->gA, a->mask_a, a->pr, B, D, T - 1, T, pt, seed, salt, step,
                            DROP_LAYER + 2u * (uint32_t)l);
    for (int b = 0; b < B; b++) {
        const float *xr = xl + ((size_t)b * T + T - 1) * D, *dr = im->gA + (size_t)b * D;
        float *o = a->x1 + (size_t)b * D;
        for (int j = 0; j < D; j++)
            o[j] = xr[j] + dr[j];
    }
    bf_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->x1, w->ln2_w, w->ln2_b, B, D);
    bf_linear_forward(a->f1, a->ln2, w->fc1_w, NULL, B, D, d->F);
    bf_gelu_bias_forward(a->fg, a->f1, w->fc1_b, B, d->F);
    bf_linear_forward(a->f2, a->fg, w->fc2_w, w->fc2_b, B, d->F, D);
    bf_dropout_rows_forward(im->gA, a->mask_f, a->f2, B, D, T - 1, T, pt, seed, salt, step,
                            DROP_LAYER + 2u * (uint32_t)l + 1u);
    bf_add_forward(im->last, a->x1, im->gA, (size_t)B * D);
}

/* Backward of last_layer_forward: dx2 (B,D) in (overwritten), d(stream
 * into the layer) (NT,D) out in im->gX. */
static void last_layer_backward(struct bf_model_impl *im, const bf_layer_view *w,
                                const bf_layer_view *gw, int l, int B, float pt, float *dx2)
{
    const bf_dims *d = &im->d;
    const int T = d->T, D = d->D, NT = B * T;
    bf_layer_acts *a = &im->lay[l];
    const float *kv = a->qkv, *q = a->qkv + (size_t)NT * 2 * D;
    bf_dropout_backward(im->gA, dx2, a->mask_f, (size_t)B * D, pt);
    bf_linear_backward_ws(im->gB, gw->fc2_w, gw->fc2_b, im->gA, a->fg, w->fc2_w, B, d->F, D, 0,
                          im->gW);
    bf_gelu_bias_backward(im->gA, im->gB, a->f1, w->fc1_b, B, d->F, gw->fc1_b, im->gCol);
    bf_linear_backward_ws(im->gB, gw->fc1_w, NULL, im->gA, a->ln2, w->fc1_w, B, D, d->F, 0, im->gW);
    bf_layernorm_backward(im->gA, gw->ln2_w, gw->ln2_b, im->gB, a->x1, w->ln2_w, a->ln2_mean,
                          a->ln2_rstd, B, D);
    float *dx1 = dx2;
    bf_add_inplace(dx1, im->gA, (size_t)B * D);
    bf_dropout_backward(im->gA, dx1, a->mask_a, (size_t)B * D, pt);
    bf_linear_backward_ws(im->gB, gw->proj_w, gw->proj_b, im->gA, a->ao, w->proj_w, B, D, D, 0,
                          im->gW);
    float *dq = im->gA;
    bf_attention_last_backward(dq, im->gQKV, im->gB, q, kv, a->att, B, T, D, d->NH, im->gAtt);
    /* d(ln1) over all tokens from k and v, plus the last tokens' part from q */
    bf_linear_backward_ws(im->gB, gw->qkv_w + (size_t)D * D, gw->qkv_b + D, im->gQKV, a->ln1,
                          w->qkv_w + (size_t)D * D, NT, D, 2 * D, 0, im->gW);
    memset(gw->qkv_b + D, 0, (size_t)D * sizeof(float));
    float *dlnq = im->gX; /* scratch until LN1's backward writes gX */
    bf_linear_backward_ws(dlnq, gw->qkv_w, gw->qkv_b, dq, im->lnq, w->qkv_w, B, D, D, 0, im->gW);
    for (int b = 0; b < B; b++) {
        float *o = im->gB + ((size_t)b * T + T - 1) * D;
        const float *g = dlnq + (size_t)b * D;
        for (int j = 0; j < D; j++)
            o[j] += g[j];
    }
    bf_layernorm_backward(im->gX, gw->ln1_w, gw->ln1_b, im->gB, im->xs[l], w->ln1_w, a->ln1_mean,
                          a->ln1_rstd, NT, D);
    for (int b = 0; b < B; b++) {
        float *o = im->gX + ((size_t)b * T + T - 1) * D;
        const float *g = dx1 + (size_t)b * D;
        for (int j = 0; j < D; j++)
            o[j] += g[j];
    }
}

bf_status bf_model_forward(bf_model *m, const float *x, const int32_t *sym_id, const float *y,
                           int B, int train, uint64_t step, float *loss_out)
{
    struct bf_model_impl *im = m->impl;
    const bf_model_config *cfg = &m->cfg;
    const bf_dims *d = &im->d;
    const bf_param_view *p = &im->pv;
    if (B < 1 || B > m->max_batch)
        return BF_FAIL(BF_EINVAL, "batch of %d windows is outside 1..%d (the model's max batch)", B,
                       m->max_batch);
    if (d->E > 0)
        for (int b = 0; b < B; b++)
            if (sym_id[b] < 0 || sym_id[b] >= cfg->n_symbols)
                return BF_FAIL(BF_EINVAL, "symbol id %d of window %d is outside 0..%d", sym_id[b],
                               b, cfg->n_symbols - 1);
    const int N = B * d->L, NT = B * d->T, H = d->H, D = d->D;
    const float pc = train ? cfg->cnn_dropout : 0.0f, pt = train ? cfg->dropout : 0.0f;
    const uint64_t seed = m->seed;
    const uint32_t salt = m->dropout_salt;
    im->B = B;
    im->train = train;
    im->step = step;
    im->have_y = y != NULL;
    if (d->E > 0)
        memcpy(im->sym, sym_id, (size_t)B * sizeof(int32_t));

    /* 1. symbols tiled as channels, then the stem */
    bf_tile_forward(im->x0, x, sym_id, p->emb, B, d->C, d->L, d->E);
    bf_linear_forward(im->s[0], im->x0, p->in_w, p->in_b, N, d->Ci, H);
    for (int i = 0; i < d->NB; i++) {
        bf_blk_acts *a = &im->blk[i];
        const bf_blk_view *w = &p->blk[i];
        if (im->stem_ws) {
            bf_stem_block_forward(im, i, B, pc, seed, salt, step, cfg->cnn_kernels[i],
                                  cfg->cnn_dilations[i]);
            continue;
        }
        bf_dwconv_forward(a->a, im->s[i], w->dw_w, w->dw_b, B, d->L, H, cfg->cnn_kernels[i],
                          cfg->cnn_dilations[i]);
        bf_linear_forward(a->p, a->a, w->pw_w, NULL, N, H, 2 * H);
        bf_glu_forward_save(a->g, a->p, w->pw_b, N, H);
        bf_groupnorm_forward(a->n, a->gn_mean, a->gn_rstd, a->g, w->gn_w, w->gn_b, B, d->L, H,
                             d->G);
        bf_dropout_add_forward(im->s[i + 1], a->mask, a->n, im->s[i], (size_t)N * H, pc, seed, salt,
                               step, 1u + (uint32_t)i);
    }
    const float *s = im->s[d->NB];

    /* 2. channel mixer, 3. tokens */
    if (im->mid_ws)
        bf_mid_forward(im, cfg->channel_mixer == BF_MIXER_MLP, B, pt, seed, salt, step);
    else if (cfg->channel_mixer == BF_MIXER_MLP) {
        bf_linear_forward(im->mx_u, s, p->mx_fc1_w, NULL, N, H, H);
        bf_gelu_bias_forward(im->mx_ug, im->mx_u, p->mx_fc1_b, N, H);
        bf_linear_residual_forward(im->mo, im->mx_ug, p->mx_fc2_w, p->mx_fc2_b, s, N, H, H);
    } else if (cfg->channel_mixer == BF_MIXER_IVAR) {
        const int NC = B * H, L = d->L; /* one token per (window, channel) */
        bf_transpose(im->mx_t, s, B, L, H, 0);
        bf_layernorm_forward(im->mx_ln, im->mx_ln_mean, im->mx_ln_rstd, im->mx_t, p->mx_ln_w,
                             p->mx_ln_b, NC, L);
        bf_linear_forward(im->mx_qkv, im->mx_ln, p->mx_qkv_w, p->mx_qkv_b, NC, L, 3 * L);
        bf_attention_forward(im->mx_ao, im->mx_att, im->mx_qkv, B, H, L, 1, 0);
        bf_linear_forward(im->mx_pr, im->mx_ao, p->mx_proj_w, p->mx_proj_b, NC, L, L);
        memcpy(im->mo, s, (size_t)N * H * sizeof(float));
        bf_transpose(im->mo, im->mx_pr, B, H, L, 1);
    }
    /* (none: mo aliases s) */

    /* 3. tokens */
    if (!im->mid_ws) {
        bf_im2col_forward(im->cols, im->mo, B, d->L, H, d->P, d->S, d->T);
        bf_linear_forward(im->tok, im->cols, p->patch_w, p->patch_b, NT, d->P * H, D);
        bf_pos_forward(im->tok, p->pos, B, d->T, D);
        bf_dropout_forward(im->xs[0], im->tok_mask, im->tok, (size_t)NT * D, pt, seed, salt, step,
                           DROP_TOKENS);
    }

    /* 4. causal Transformer, pre-norm; the last layer only for the last token */
    for (int l = 0; l < d->NL - 1; l++) {
        bf_layer_acts *a = &im->lay[l];
        const bf_layer_view *w = &p->layer[l];
        const float *xl = im->xs[l];
        if (im->layer_ws) {
            bf_layer_forward_fused(im, l, B, pt, seed, salt, step);
            continue;
        }
        bf_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, xl, w->ln1_w, w->ln1_b, NT, D);
        bf_linear_forward(a->qkv, a->ln1, w->qkv_w, w->qkv_b, NT, D, 3 * D);
        bf_attention_forward(a->ao, a->att, a->qkv, B, d->T, D, d->NH, 1);
        bf_linear_forward(a->pr, a->ao, w->proj_w, w->proj_b, NT, D, D);
        bf_dropout_add_forward(a->x1, a->mask_a, a->pr, xl, (size_t)NT * D, pt, seed, salt, step,
                               DROP_LAYER + 2u * (uint32_t)l);
        bf_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->x1, w->ln2_w, w->ln2_b, NT, D);
        bf_linear_forward(a->f1, a->ln2, w->fc1_w, NULL, NT, D, d->F);
        bf_gelu_bias_forward(a->fg, a->f1, w->fc1_b, NT, d->F);
        bf_linear_forward(a->f2, a->fg, w->fc2_w, w->fc2_b, NT, d->F, D);
        bf_dropout_add_forward(a->x2, a->mask_f, a->f2, a->x1, (size_t)NT * D, pt, seed, salt, step,
                               DROP_LAYER + 2u * (uint32_t)l + 1u);
    }

    /* 5. last token -> ln_f -> head */
    if (d->NL > 0) {
        last_layer_forward(im, &p->layer[d->NL - 1], d->NL - 1, B, pt, seed, salt, step);
    } else {
        const float *xe = im->xs[0];
        for (int b = 0; b < B; b++)
            memcpy(im->last + (size_t)b * D, xe + ((size_t)b * d->T + d->T - 1) * D,
                   (size_t)D * sizeof(float));
    }
    bf_layernorm_forward(im->lnf, im->lnf_mean, im->lnf_rstd, im->last, p->lnf_w, p->lnf_b, B, D);
    bf_linear_forward(m->pred, im->lnf, p->head_w, p->head_b, B, D, 1);

    if (y) {
        memcpy(im->y, y, (size_t)B * sizeof(float));
        double loss = cfg->loss == BF_LOSS_HUBER ? bf_huber_forward(m->pred, y, B, cfg->huber_delta)
                                                 : bf_mse_forward(m->pred, y, B);
        m->loss = (float)loss;
        if (loss_out)
            *loss_out = m->loss;
        if (!isfinite(loss))
            return BF_FAIL(BF_ENAN, "loss is %g at step %llu: lower --lr or check the inputs", loss,
                           (unsigned long long)step);
    }
    return BF_OK;
}

bf_status bf_model_backward(bf_model *m)
{
    struct bf_model_impl *im = m->impl;
    const bf_model_config *cfg = &m->cfg;
    const bf_dims *d = &im->d;
    const bf_param_view *p = &im->pv;
    const bf_param_view *g = &im->gv;
    if (!im->have_y)
        return BF_FAIL(BF_EINVAL, "bf_model_backward needs a forward with targets first");
    const int B = im->B, N = B * d->L, NT = B * d->T, H = d->H, D = d->D;
    const float pc = im->train ? cfg->cnn_dropout : 0.0f, pt = im->train ? cfg->dropout : 0.0f;

    /* 5. loss, head, ln_f, back into the last token of the stream */
    if (cfg->loss == BF_LOSS_HUBER)
        bf_huber_backward(im->dpred, m->pred, im->y, B, cfg->huber_delta);
    else
        bf_mse_backward(im->dpred, m->pred, im->y, B);
    float *dlnf = im->gHead, *dlast = im->gHead + (size_t)B * D;
    bf_linear_backward_ws(dlnf, g->head_w, g->head_b, im->dpred, im->lnf, p->head_w, B, D, 1, 0,
                          im->gW);
    bf_layernorm_backward(dlast, g->lnf_w, g->lnf_b, dlnf, im->last, p->lnf_w, im->lnf_mean,
                          im->lnf_rstd, B, D);
    if (d->NL > 0) {
        last_layer_backward(im, &p->layer[d->NL - 1], &g->layer[d->NL - 1], d->NL - 1, B, pt,
                            dlast);
    } else {
        memset(im->gX, 0, (size_t)NT * D * sizeof(float));
        for (int b = 0; b < B; b++)
            memcpy(im->gX + ((size_t)b * d->T + d->T - 1) * D, dlast + (size_t)b * D,
                   (size_t)D * sizeof(float));
    }

    /* 4. Transformer layers in reverse; gX is d(stream) */
    for (int l = d->NL - 2; l >= 0; l--) {
        bf_layer_acts *a = &im->lay[l];
        const bf_layer_view *w = &p->layer[l];
        const bf_layer_view *gw = &g->layer[l];
        if (im->layer_ws) {
            bf_layer_backward_fused(im, l, B, pt, m->seed, m->dropout_salt, im->step);
            continue;
        }
        bf_dropout_backward(im->gA, im->gX, a->mask_f, (size_t)NT * D, pt);
        bf_linear_backward_ws(im->gB, gw->fc2_w, gw->fc2_b, im->gA, a->fg, w->fc2_w, NT, d->F, D, 0,
                              im->gW);
        bf_gelu_bias_backward(im->gA, im->gB, a->f1, w->fc1_b, NT, d->F, gw->fc1_b, im->gCol);
        bf_linear_backward_ws(im->gB, gw->fc1_w, NULL, im->gA, a->ln2, w->fc1_w, NT, D, d->F, 0,
                              im->gW);
        bf_layernorm_backward(im->gA, gw->ln2_w, gw->ln2_b, im->gB, a->x1, w->ln2_w, a->ln2_mean,
                              a->ln2_rstd, NT, D);
        bf_add_inplace(im->gX, im->gA, (size_t)NT * D);
        bf_dropout_backward(im->gA, im->gX, a->mask_a, (size_t)NT * D, pt);
        bf_linear_backward_ws(im->gB, gw->proj_w, gw->proj_b, im->gA, a->ao, w->proj_w, NT, D, D, 0,
                              im->gW);
        bf_attention_backward(im->gQKV, im->gB, a->qkv, a->att, B, d->T, D, d->NH, 1, im->gAtt);
        bf_linear_backward_ws(im->gA, gw->qkv_w, gw->qkv_b, im->gQKV, a->ln1, w->qkv_w, NT, D,
                              3 * D, 0, im->gW);
        memset(gw->qkv_b + D, 0, (size_t)D * sizeof(float));
        bf_layernorm_backward(im->gB, gw->ln1_w, gw->ln1_b, im->gA, im->xs[l], w->ln1_w,
                              a->ln1_mean, a->ln1_rstd, NT, D);
        bf_add_inplace(im->gX, im->gB, (size_t)NT * D);
    }

    /* 3. tokens -> gS = d(mixer output), 2. mixer (fused: both) */
    const float *s = im->s[d->NB];
    if (im->mid_ws) {
        bf_mid_backward(im, cfg->channel_mixer == BF_MIXER_MLP, B, pt);
    } else {
        bf_dropout_backward(im->gA, im->gX, im->tok_mask, (size_t)NT * D, pt);
        bf_pos_backward(g->pos, im->gA, B, d->T, D);
        bf_linear_backward_ws(im->gCols, g->patch_w, g->patch_b, im->gA, im->cols, p->patch_w, NT,
                              d->P * H, D, 0, im->gW);
        bf_im2col_backward(im->gS, im->gCols, B, d->L, H, d->P, d->S, d->T);

        /* 2. mixer: the residual passes gS through; add the branch */
        if (cfg->channel_mixer == BF_MIXER_MLP) {
            bf_linear_backward_ws(im->gA, g->mx_fc2_w, g->mx_fc2_b, im->gS, im->mx_ug, p->mx_fc2_w,
                                  N, H, H, 0, im->gW);
            bf_gelu_bias_backward(im->gB, im->gA, im->mx_u, p->mx_fc1_b, N, H, g->mx_fc1_b,
                                  im->gCol);
            bf_linear_backward_ws(im->gS, g->mx_fc1_w, NULL, im->gB, s, p->mx_fc1_w, N, H, H, 1,
                                  im->gW);
        } else if (cfg->channel_mixer == BF_MIXER_IVAR) {
            const int NC = B * H, L = d->L;
            bf_transpose(im->gA, im->gS, B, L, H, 0);
            bf_linear_backward_ws(im->gB, g->mx_proj_w, g->mx_proj_b, im->gA, im->mx_ao,
                                  p->mx_proj_w, NC, L, L, 0, im->gW);
            bf_attention_backward(im->gQKV, im->gB, im->mx_qkv, im->mx_att, B, H, L, 1, 0,
                                  im->gAtt);
            bf_linear_backward_ws(im->gA, g->mx_qkv_w, g->mx_qkv_b, im->gQKV, im->mx_ln,
                                  p->mx_qkv_w, NC, L, 3 * L, 0, im->gW);
            memset(g->mx_qkv_b + L, 0, (size_t)L * sizeof(float));
            bf_layernorm_backward(im->gB, g->mx_ln_w, g->mx_ln_b, im->gA, im->mx_t, p->mx_ln_w,
                                  im->mx_ln_mean, im->mx_ln_rstd, NC, L);
            bf_transpose(im->gS, im->gB, B, H, L, 1);
        }
    }

    /* 1. stem blocks in reverse, then the input projection and embedding */
    for (int i = d->NB - 1; i >= 0; i--) {
        bf_blk_acts *a = &im->blk[i];
        const bf_blk_view *w = &p->blk[i];
        const bf_blk_view *gw = &g->blk[i];
        if (im->stem_ws) {
            bf_stem_block_backward(im, i, B, pc, cfg->cnn_kernels[i], cfg->cnn_dilations[i]);
            continue;
        }
        bf_groupnorm_dropout_backward(im->gB, gw->gn_w, gw->gn_b, im->gS, a->mask, pc, a->g,
                                      w->gn_w, a->gn_mean, a->gn_rstd, B, d->L, H, d->G, im->gNorm);
        bf_glu_backward_saved(im->gA, im->gB, a->p, w->pw_b, N, H, gw->pw_b, im->gCol);
        bf_linear_backward_ws(im->gB, gw->pw_w, NULL, im->gA, a->a, w->pw_w, N, H, 2 * H, 0,
                              im->gW);
        bf_dwconv_backward_ws(im->gS, gw->dw_w, gw->dw_b, im->gB, im->s[i], w->dw_w, B, d->L, H,
                              cfg->cnn_kernels[i], cfg->cnn_dilations[i], 1, im->gDw);
    }
    bf_linear_backward_ws(NULL, g->in_w, g->in_b, im->gS, im->x0, p->in_w, N, d->Ci, H, 0, im->gW);
    if (d->E > 0) { /* only the embedding columns of the input need a gradient */
        bf_linear_input_grad_cols(im->gA, im->gS, p->in_w, N, d->Ci, H, d->C, d->E);
        bf_tile_backward(g->emb, im->gA, im->sym, B, 0, d->L, d->E);
    }
    return BF_OK;
}
