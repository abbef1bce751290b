/* model_layout.c - the tensor table, parameter initialization, the one-time
 * allocation of parameters, moments and activations, and the summary.
 *
 * The layout function runs twice: once to count (no model), once to fill the
 * table and point the param/grad views into the buffers. The activation
 * arena is laid out the same way. Nothing here runs inside a training step.
 * Initialization draws element j of tensor i from Philox counter (i, j), so
 * a parameter's initial value depends only on (seed, its tensor, its index).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/rng.h"
#include "core/nn/model_impl.h"
#include "core/nn/ops.h"

enum { INIT_ZERO, INIT_ONE, INIT_UNIFORM_FANIN, INIT_NORMAL };

typedef struct lay_ctx {
    bf_model *m; /* NULL while counting */
    bf_param_view *pv, *gv;
    int64_t off;
    int n;
} lay_ctx;

static void add(lay_ctx *c, float **slot, int decay, int ndim, int s0, int s1, int s2,
                const char *fmt, ...) __attribute__((format(printf, 8, 9)));

#include <stdarg.h>
static void add(lay_ctx *c, float **slot, int decay, int ndim, int s0, int s1, int s2,
                const char *fmt, ...)
{
    int64_t numel = (int64_t)s0 * (ndim > 1 ? s1 : 1) * (ndim > 2 ? s2 : 1);
    if (c->m) {
        bf_tensor_info *t = &c->m->tensors[c->n];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->name, sizeof t->name, fmt, ap);
        va_end(ap);
        t->offset = c->off;
        t->numel = numel;
        t->ndim = ndim;
        t->shape[0] = s0;
        t->shape[1] = ndim > 1 ? s1 : 0;
        t->shape[2] = ndim > 2 ? s2 : 0;
        t->shape[3] = 0;
        t->decay = decay;
        *slot = c->m->params + c->off;
        float **gslot = (float **)((char *)c->gv + ((char *)slot - (char *)c->pv));
        *gslot = c->m->grads + c->off;
    }
    c->off += numel;
    c->n++;
}

int bf_model_gn_groups(int H)
{
    for (int g = 8; g > 1; g--)
        if (H % g == 0)
            return g;
    return 1;
}

void bf_model_dims(const bf_model_config *cfg, bf_dims *d)
{
    memset(d, 0, sizeof *d);
    d->C = cfg->n_features;
    d->E = cfg->emb_dim;
    d->Ci = d->C + d->E;
    d->L = cfg->seq_len;
    d->H = cfg->cnn_hidden;
    d->NB = cfg->cnn_blocks;
    d->G = bf_model_gn_groups(d->H);
    if (cfg->arch == BF_ARCH_PATCHTST) {
        d->P = cfg->patch_size;
        d->S = cfg->patch_stride;
    } else {
        d->P = 1;
        d->S = 1;
    }
    d->T = (d->L - d->P) / d->S + 1;
    d->D = cfg->d_model;
    d->NH = cfg->n_heads;
    d->NL = cfg->num_layers;
    d->F = 4 * cfg->d_model;
}

/* The table. Order here is the order in the flat buffer and in the file. */
static void layout(lay_ctx *c, const bf_model_config *cfg)
{
    bf_dims d;
    bf_model_dims(cfg, &d);
    bf_param_view *p = c->pv;
    if (d.E > 0)
        add(c, &p->emb, 0, 2, cfg->n_symbols, d.E, 0, "emb.weight");
    add(c, &p->in_w, 1, 2, d.H, d.Ci, 0, "stem.in.weight");
    add(c, &p->in_b, 0, 1, d.H, 0, 0, "stem.in.bias");
    for (int i = 0; i < d.NB; i++) {
        bf_blk_view *b = &p->blk[i];
        add(c, &b->dw_w, 1, 2, d.H, cfg->cnn_kernels[i], 0, "stem.blocks.%d.dw.weight", i);
        add(c, &b->dw_b, 0, 1, d.H, 0, 0, "stem.blocks.%d.dw.bias", i);
        add(c, &b->pw_w, 1, 2, 2 * d.H, d.H, 0, "stem.blocks.%d.pw.weight", i);
        add(c, &b->pw_b, 0, 1, 2 * d.H, 0, 0, "stem.blocks.%d.pw.bias", i);
        add(c, &b->gn_w, 0, 1, d.H, 0, 0, "stem.blocks.%d.gn.weight", i);
        add(c, &b->gn_b, 0, 1, d.H, 0, 0, "stem.blocks.%d.gn.bias", i);
    }
    if (cfg->channel_mixer == BF_MIXER_MLP) {
        add(c, &p->mx_fc1_w, 1, 2, d.H, d.H, 0, "mixer.fc1.weight");
        add(c, &p->mx_fc1_b, 0, 1, d.H, 0, 0, "mixer.fc1.bias");
        add(c, &p->mx_fc2_w, 1, 2, d.H, d.H, 0, "mixer.fc2.weight");
        add(c, &p->mx_fc2_b, 0, 1, d.H, 0, 0, "mixer.fc2.bias");
    } else if (cfg->channel_mixer == BF_MIXER_IVAR) {
        add(c, &p->mx_ln_w, 0, 1, d.L, 0, 0, "mixer.ln.weight");
        add(c, &p->mx_ln_b, 0, 1, d.L, 0, 0, "mixer.ln.bias");
        add(c, &p->mx_qkv_w, 1, 2, 3 * d.L, d.L, 0, "mixer.qkv.weight");
        add(c, &p->mx_qkv_b, 0, 1, 3 * d.L, 0, 0, "mixer.qkv.bias");
        add(c, &p->mx_proj_w, 1, 2, d.L, d.L, 0, "mixer.proj.weight");
        add(c, &p->mx_proj_b, 0, 1, d.L, 0, 0, "mixer.proj.bias");
    }
    add(c, &p->patch_w, 1, 3, d.D, d.P, d.H, "tokenizer.weight");
    add(c, &p->patch_b, 0, 1, d.D, 0, 0, "tokenizer.bias");
    add(c, &p->pos, 0, 2, d.T, d.D, 0, "tokenizer.pos");
    for (int l = 0; l < d.NL; l++) {
        bf_layer_view *y = &p->layer[l];
        add(c, &y->ln1_w, 0, 1, d.D, 0, 0, "layers.%d.ln1.weight", l);
        add(c, &y->ln1_b, 0, 1, d.D, 0, 0, "layers.%d.ln1.bias", l);
        add(c, &y->qkv_w, 1, 2, 3 * d.D, d.D, 0, "layers.%d.attn.qkv.weight", l);
        add(c, &y->qkv_b, 0, 1, 3 * d.D, 0, 0, "layers.%d.attn.qkv.bias", l);
        add(c, &y->proj_w, 1, 2, d.D, d.D, 0, "layers.%d.attn.proj.weight", l);
        add(c, &y->proj_b, 0, 1, d.D, 0, 0, "layers.%d.attn.proj.bias", l);
        add(c, &y->ln2_w, 0, 1, d.D, 0, 0, "layers.%d.ln2.weight", l);
        add(c, &y->ln2_b, 0, 1, d.D, 0, 0, "layers.%d.ln2.bias", l);
        add(c, &y->fc1_w, 1, 2, d.F, d.D, 0, "layers.%d.mlp.fc1.weight", l);
        add(c, &y->fc1_b, 0, 1, d.F, 0, 0, "layers.%d.mlp.fc1.bias", l);
        add(c, &y->fc2_w, 1, 2, d.D, d.F, 0, "layers.%d.mlp.fc2.weight", l);
        add(c, &y->fc2_b, 0, 1, d.D, 0, 0, "layers.%d.mlp.fc2.bias", l);
    }
    add(c, &p->lnf_w, 0, 1, d.D, 0, 0, "ln_f.weight");
    add(c, &p->lnf_b, 0, 1, d.D, 0, 0, "ln_f.bias");
    add(c, &p->head_w, 1, 2, 1, d.D, 0, "head.weight");
    add(c, &p->head_b, 0, 1, 1, 0, 0, "head.bias");
}

int64_t bf_model_config_n_params(const bf_model_config *cfg)
{
    bf_param_view pv, gv;
    lay_ctx c = {.m = NULL, .pv = &pv, .gv = &gv};
    layout(&c, cfg);
    return c.off;
}

/* How a tensor starts, by its name's last component (see docs/model.md). */
static int init_kind(const bf_tensor_info *t, int *fan_in)
{
    const char *dot = strrchr(t->name, '.');
    const char *last = dot ? dot + 1 : t->name;
    *fan_in = t->ndim >= 2 ? (int)(t->numel / t->shape[0]) : 1;
    if (!strcmp(t->name, "emb.weight"))
        return INIT_NORMAL;
    if (!strcmp(last, "pos"))
        return INIT_NORMAL;
    if (!strcmp(last, "bias"))
        return INIT_ZERO;
    if (strstr(t->name, "gn.") || strstr(t->name, "ln"))
        return INIT_ONE; /* norm gains (their biases were caught above) */
    return INIT_UNIFORM_FANIN;
}

static void init_params(bf_model *m)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const bf_tensor_info *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int fan_in;
        int kind = init_kind(t, &fan_in);
        double bound = 1.0 / sqrt((double)fan_in);
        double std = !strcmp(t->name, "emb.weight") ? 1.0 : 0.02;
#pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < t->numel; j++) {
            switch (kind) {
            case INIT_ZERO:
                p[j] = 0.0f;
                break;
            case INIT_ONE:
                p[j] = 1.0f;
                break;
            case INIT_NORMAL:
                p[j] = (float)(std * bf_rng_normal(m->seed, BF_RNG_STREAM_INIT, (uint64_t)i,
                                                   (uint64_t)j));
                break;
            default:
                p[j] = (float)(bound * (2.0 * bf_rng_uniform(m->seed, BF_RNG_STREAM_INIT,
                                                             (uint64_t)i, (uint64_t)j) -
                                        1.0));
            }
        }
        for (int64_t j = 0; j < t->numel; j++)
            m->decay_mask[t->offset + j] = (uint8_t)t->decay;
    }
}

/* ---- activation arena --------------------------------------------------- */

typedef struct arena_ctx {
    float *base; /* NULL while counting */
    uint8_t *mbase;
    size_t nf, nm;
} arena_ctx;

static float *takef(arena_ctx *a, size_t n)
{
    n = (n + 15) & ~(size_t)15; /* 64-byte alignment for every buffer */
    float *p = a->base ? a->base + a->nf : NULL;
    a->nf += n;
    return p;
}

static uint8_t *takem(arena_ctx *a, size_t n)
{
    n = (n + 63) & ~(size_t)63;
    uint8_t *p = a->mbase ? a->mbase + a->nm : NULL;
    a->nm += n;
    return p;
}

static size_t zmax(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void plan_acts(arena_ctx *a, struct bf_model_impl *im, const bf_model_config *cfg, int Bm)
{
    const bf_dims *d = &im->d;
    size_t N = (size_t)Bm * d->L, NT = (size_t)Bm * d->T, H = d->H, D = d->D;
    im->x0 = takef(a, N * d->Ci);
    im->s[0] = takef(a, N * H);
    /* BARFORGE_NN_UNFUSED=1 runs every stage op by op (tests compare the two) */
    const char *uf = getenv("BARFORGE_NN_UNFUSED");
    const int chunked = !(uf && *uf && strcmp(uf, "0"));
    const int fused = chunked && bf_stem_fused_ok(d); /* model_stem.c: a, p, g, n in cache */
    for (int i = 0; i < d->NB; i++) {
        bf_blk_acts *b = &im->blk[i];
        b->a = fused ? NULL : takef(a, N * H);
        b->p = fused ? NULL : takef(a, N * 2 * H);
        b->g = fused ? NULL : takef(a, N * H);
        b->n = fused ? NULL : takef(a, N * H);
        b->gn_mean = takef(a, (size_t)Bm * d->G);
        b->gn_rstd = takef(a, (size_t)Bm * d->G);
        b->mask = takem(a, N * H);
        im->s[i + 1] = takef(a, N * H);
    }
    const int mfused = chunked && bf_mid_fused_ok(d, cfg->channel_mixer); /* model_mid.c */
    if (cfg->channel_mixer == BF_MIXER_MLP) {
        im->mx_u = mfused ? NULL : takef(a, N * H);
        im->mx_ug = mfused ? NULL : takef(a, N * H);
        im->mo = mfused ? NULL : takef(a, N * H);
    } else if (cfg->channel_mixer == BF_MIXER_IVAR) {
        im->mx_t = takef(a, N * H);
        im->mx_ln = takef(a, N * H);
        im->mx_ln_mean = takef(a, (size_t)Bm * H);
        im->mx_ln_rstd = takef(a, (size_t)Bm * H);
        im->mx_qkv = takef(a, 3 * N * H);
        im->mx_att = takef(a, (size_t)Bm * H * H);
        im->mx_ao = takef(a, N * H);
        im->mx_pr = takef(a, N * H);
        im->mo = takef(a, N * H);
    } else {
        im->mo = a->base ? im->s[d->NB] : NULL;
    }
    im->cols = mfused ? NULL : takef(a, NT * d->P * H);
    im->tok = mfused ? NULL : takef(a, NT * D);
    im->tok_mask = takem(a, NT * D);
    im->xs[0] = takef(a, NT * D);
    const int lfused = chunked && bf_layers_fused_ok(d); /* model_layer.c: not the last layer */
    for (int l = 0; l < d->NL; l++) {
        bf_layer_acts *y = &im->lay[l];
        const int kept = !lfused || l == d->NL - 1;
        y->ln1 = kept ? takef(a, NT * D) : NULL;
        y->ln1_mean = takef(a, NT);
        y->ln1_rstd = takef(a, NT);
        y->qkv = kept ? takef(a, NT * 3 * D) : NULL;
        y->att = kept ? takef(a, (size_t)Bm * d->NH * d->T * d->T) : NULL;
        y->ao = kept ? takef(a, NT * D) : NULL;
        y->pr = kept ? takef(a, NT * D) : NULL;
        y->mask_a = takem(a, NT * D);
        y->x1 = kept ? takef(a, NT * D) : NULL;
        y->ln2 = kept ? takef(a, NT * D) : NULL;
        y->ln2_mean = takef(a, NT);
        y->ln2_rstd = takef(a, NT);
        y->f1 = kept ? takef(a, NT * d->F) : NULL;
        y->fg = kept ? takef(a, NT * d->F) : NULL;
        y->f2 = kept ? takef(a, NT * D) : NULL;
        y->mask_f = takem(a, NT * D);
        y->x2 = takef(a, NT * D);
        im->xs[l + 1] = y->x2;
    }
    im->last = takef(a, (size_t)Bm * D);
    im->lnq = takef(a, (size_t)Bm * D);
    im->lnf = takef(a, (size_t)Bm * D);
    im->lnf_mean = takef(a, (size_t)Bm);
    im->lnf_rstd = takef(a, (size_t)Bm);
    im->y = takef(a, (size_t)Bm);
    /* backward scratch: gA/gB hold the widest intermediate of any stage */
    size_t wide = zmax(N * 2 * H, N * d->Ci);
    wide = zmax(wide, NT * d->F);
    wide = zmax(wide, NT * 3 * D);
    wide = zmax(wide, 3 * N * H);
    im->gS = takef(a, N * H);
    im->gA = takef(a, wide);
    im->gB = takef(a, wide);
    im->gX = takef(a, NT * D);
    im->gQKV = takef(a, zmax(NT * 3 * D, 3 * N * H));
    im->gCols = mfused ? NULL : takef(a, NT * d->P * H);
    im->gAtt = takef(a, zmax((size_t)Bm * d->NH * d->T, (size_t)Bm * H));
    im->gNorm = takef(a, 2 * (size_t)Bm * H);
    im->gHead = takef(a, 2 * (size_t)Bm * D);
    im->dpred = takef(a, (size_t)Bm);
    /* the widest weight-gradient workspace of any linear layer */
    const int n = (int)N, nt = (int)NT, h = (int)H, dd = (int)D, L = d->L;
    size_t ws = bf_linear_scratch_floats(n, d->Ci, h);
    ws = zmax(ws, bf_linear_scratch_floats(n, h, 2 * h));
    ws = zmax(ws, bf_linear_scratch_floats(n, h, h));
    ws = zmax(ws, bf_linear_scratch_floats(Bm * h, L, 3 * L));
    ws = zmax(ws, bf_linear_scratch_floats(Bm * h, L, L));
    ws = zmax(ws, bf_linear_scratch_floats(nt, d->P * h, dd));
    ws = zmax(ws, bf_linear_scratch_floats(nt, dd, 3 * dd));
    ws = zmax(ws, bf_linear_scratch_floats(nt, dd, d->F));
    ws = zmax(ws, bf_linear_scratch_floats(nt, d->F, dd));
    ws = zmax(ws, bf_linear_scratch_floats(Bm, dd, 1));
    im->gW = takef(a, ws);
    int kmax = 1;
    for (int i = 0; i < d->NB; i++)
        kmax = cfg->cnn_kernels[i] > kmax ? cfg->cnn_kernels[i] : kmax;
    im->gDw = takef(a, (size_t)Bm * (kmax + 1) * H);
    size_t runs = (N + 31) / 32, runs_t = (NT + 31) / 32;
    im->gCol = takef(a, zmax(runs * 2 * H, runs_t * d->F));
    im->stem_ws = fused ? takef(a, bf_stem_scratch_floats(d, Bm)) : NULL;
    im->layer_ws = lfused ? takef(a, bf_layers_scratch_floats(d, Bm)) : NULL;
    im->mid_ws = mfused ? takef(a, bf_mid_scratch_floats(d, Bm)) : NULL;
    size_t wpk = zmax(fused ? bf_stem_wpack_u16(d) : 0, lfused ? bf_layers_wpack_u16(d) : 0);
    wpk = zmax(wpk, mfused ? bf_mid_wpack_u16(d) : 0);
    im->wpack = wpk ? (uint16_t *)takef(a, (wpk + 1) / 2) : NULL;
}

bf_status bf_model_init(bf_model *m, const bf_model_config *cfg, int max_batch, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    BF_TRY(bf_model_config_validate(cfg));
    if (max_batch < 1)
        return BF_FAIL(BF_EINVAL, "max_batch %d must be at least 1 (--batch-size)", max_batch);
    if (bf_nn_threads_configured() == 0)
        bf_nn_set_threads(0);
    const char *blas = bf_nn_blas_error(); /* loads OpenBLAS (blas_lazy.c) */
    if (blas)
        return BF_FAIL(BF_ERR, "the model needs OpenBLAS: %s", blas);
    m->cfg = *cfg;
    m->max_batch = max_batch;
    m->seed = seed;
    struct bf_model_impl *im = calloc(1, sizeof *im);
    BF_CHECK_ALLOC(im, sizeof *im);
    m->impl = im;
    bf_model_dims(cfg, &im->d);

    m->n_params = bf_model_config_n_params(cfg);
    size_t bytes = (size_t)m->n_params * sizeof(float);
    float **bufs[4] = {&m->params, &m->grads, &m->m, &m->v};
    for (int k = 0; k < 4; k++) {
        *bufs[k] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!*bufs[k]) {
            bf_model_free(m);
            return BF_FAIL(BF_ENOMEM, "out of memory allocating %zu bytes of parameters", bytes);
        }
        memset(*bufs[k], 0, bytes);
    }
    m->decay_mask = calloc((size_t)m->n_params, 1);
    m->pred = calloc((size_t)max_batch, sizeof(float));
    if (!m->decay_mask || !m->pred) {
        bf_model_free(m);
        return BF_FAIL(BF_ENOMEM, "out of memory allocating model tables");
    }
    lay_ctx c = {.m = m, .pv = &im->pv, .gv = &im->gv};
    layout(&c, cfg);
    m->n_tensors = c.n;
    init_params(m);

    arena_ctx a = {0};
    plan_acts(&a, im, cfg, max_batch);
    im->arena = aligned_alloc(64, a.nf * sizeof(float));
    im->mask_arena = aligned_alloc(64, a.nm ? a.nm : 64);
    im->sym = calloc((size_t)max_batch, sizeof(int32_t));
    if (!im->arena || !im->mask_arena || !im->sym) {
        size_t need = a.nf * sizeof(float) + a.nm;
        bf_model_free(m);
        return BF_FAIL(BF_ENOMEM, "out of memory allocating %zu bytes of activations for batch %d",
                       need, max_batch);
    }
    arena_ctx a2 = {.base = im->arena, .mbase = im->mask_arena};
    plan_acts(&a2, im, cfg, max_batch);
    return BF_OK;
}

void bf_model_free(bf_model *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    free(m->m);
    free(m->v);
    free(m->decay_mask);
    free(m->pred);
    if (m->impl) {
        free(m->impl->arena);
        free(m->impl->mask_arena);
        free(m->impl->sym);
        free(m->impl);
    }
    memset(m, 0, sizeof *m);
}

int bf_model_n_tensors(const bf_model *m)
{
    return m->n_tensors;
}

const bf_tensor_info *bf_model_tensor(const bf_model *m, int i)
{
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

float *bf_model_param(bf_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return m->params + m->tensors[i].offset;
    return NULL;
}

void bf_model_zero_grad(bf_model *m)
{
    memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
}

void bf_model_print_summary(const bf_model *m)
{
    char json[1024];
    if (bf_model_config_to_json(&m->cfg, json, sizeof json) != BF_OK)
        snprintf(json, sizeof json, "?");
    bf_log0(BF_LOG_INFO, "model %s: %lld parameters in %d tensors", bf_arch_name(m->cfg.arch),
            (long long)m->n_params, m->n_tensors);
    bf_log0(BF_LOG_INFO, "model config %s", json);
    for (int i = 0; i < m->n_tensors; i++) {
        const bf_tensor_info *t = &m->tensors[i];
        char shape[64] = "";
        size_t w = 0;
        for (int k = 0; k < t->ndim && w < sizeof shape; k++)
            w += (size_t)snprintf(shape + w, sizeof shape - w, k ? " x %d" : "%d", t->shape[k]);
        bf_log0(BF_LOG_INFO, "  %-32s %-16s %10lld%s", t->name, shape, (long long)t->numel,
                t->decay ? "" : "  (no decay)");
    }
}
