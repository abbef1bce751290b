/* model_impl.h - private to core/nn: where each tensor lives in the flat
 * buffer and the activations kept between forward and backward.
 *
 * Offsets are in floats and apply to params, grads, m and v alike; pointer
 * views (bf_param_view) are built once at init for params and for grads.
 */
#ifndef BF_NN_MODEL_IMPL_H
#define BF_NN_MODEL_IMPL_H

#include "core/nn/model.h"

#define BF_NN_MAX_LAYERS 32

typedef struct bf_blk_view {
    float *dw_w, *dw_b, *pw_w, *pw_b, *gn_w, *gn_b;
} bf_blk_view;

typedef struct bf_layer_view {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} bf_layer_view;

typedef struct bf_param_view {
    float *emb, *in_w, *in_b;
    bf_blk_view blk[BF_NN_MAX_BLOCKS];
    float *mx_fc1_w, *mx_fc1_b, *mx_fc2_w, *mx_fc2_b;                       /* mlp */
    float *mx_ln_w, *mx_ln_b, *mx_qkv_w, *mx_qkv_b, *mx_proj_w, *mx_proj_b; /* ivar */
    float *patch_w, *patch_b, *pos;
    bf_layer_view layer[BF_NN_MAX_LAYERS];
    float *lnf_w, *lnf_b, *head_w, *head_b;
} bf_param_view;

/* Derived sizes of a config. */
typedef struct bf_dims {
    int C, E, Ci, L, H, NB, G, P, S, T, D, NH, NL, F;
} bf_dims;

typedef struct bf_blk_acts {
    float *a, *p, *g, *n, *gn_mean, *gn_rstd;
    uint8_t *mask;
} bf_blk_acts;

typedef struct bf_layer_acts {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *ao, *pr, *x1;
    float *ln2, *ln2_mean, *ln2_rstd, *f1, *fg, *f2, *x2;
    uint8_t *mask_a, *mask_f;
} bf_layer_acts;

struct bf_model_impl {
    bf_dims d;
    bf_param_view pv, gv;
    /* forward activations, sized for max_batch */
    float *x0;                      /* (N, Ci) tiled input */
    float *s[BF_NN_MAX_BLOCKS + 1]; /* (N, H) residual stream of the stem */
    bf_blk_acts blk[BF_NN_MAX_BLOCKS];
    float *mx_u, *mx_ug;                           /* mlp */
    float *mx_t, *mx_ln, *mx_ln_mean, *mx_ln_rstd; /* ivar: (B,H,L) tokens */
    float *mx_qkv, *mx_att, *mx_ao, *mx_pr;
    float *mo;         /* (N, H) mixer output */
    float *cols, *tok; /* (NT, P*H), (NT, D) */
    uint8_t *tok_mask;
    float *xs[BF_NN_MAX_LAYERS + 1]; /* (NT, D) residual stream */
    bf_layer_acts lay[BF_NN_MAX_LAYERS];
    float *last, *lnf, *lnf_mean, *lnf_rstd; /* (B, D) */
    float *lnq;                              /* (B, D) last layer's LN1, last tokens */
    float *y;                                /* targets of the last forward */
    int32_t *sym;                            /* symbol ids of the last forward */
    /* backward scratch */
    float *gS, *gA, *gB, *gX, *gQKV, *gCols, *gAtt, *gNorm, *gHead, *dpred;
    float *gW;   /* weight-gradient partials (bf_linear_backward_ws) */
    float *gDw;  /* per-window depthwise-conv gradient partials */
    float *gCol; /* per-32-row column-sum partials (bias gradients fused into GLU/GELU) */
    float *stem_ws;  /* model_stem.c's per-super-chunk scratch (NULL: op-by-op stem) */
    float *layer_ws; /* model_layer.c's (NULL: op-by-op Transformer layers) */
    float *mid_ws;   /* model_mid.c's (NULL: op-by-op mixer and tokenizer) */
    uint16_t *wpack; /* the fused paths' weights packed for bf16 GEMMs (--use-amp) */
    /* state of the last forward */
    int B, train, have_y;
    uint64_t step;
    /* single allocations the pointers above point into */
    float *arena;
    uint8_t *mask_arena;
};

/* model_stem.c: the stem blocks in window chunks, where bf_stem_fused_ok */
int bf_stem_fused_ok(const bf_dims *d);
size_t bf_stem_scratch_floats(const bf_dims *d, int Bm);
size_t bf_stem_wpack_u16(const bf_dims *d);
void bf_stem_block_forward(struct bf_model_impl *im, int i, int B, float pc, uint64_t seed,
                           uint32_t salt, uint64_t step, int K, int dil);
void bf_stem_block_backward(struct bf_model_impl *im, int i, int B, float pc, int K, int dil);

/* model_layer.c: the Transformer layers before the last in window chunks */
int bf_layers_fused_ok(const bf_dims *d);
size_t bf_layers_scratch_floats(const bf_dims *d, int Bm);
size_t bf_layers_wpack_u16(const bf_dims *d);
void bf_layer_forward_fused(struct bf_model_impl *im, int l, int B, float pt, uint64_t seed,
                            uint32_t salt, uint64_t step);
void bf_layer_backward_fused(struct bf_model_impl *im, int l, int B, float pt, uint64_t seed,
                             uint32_t salt, uint64_t step);

/* model_mid.c: the mlp/no mixer and the tokenizer in window chunks */
int bf_mid_fused_ok(const bf_dims *d, int mixer);
size_t bf_mid_scratch_floats(const bf_dims *d, int Bm);
size_t bf_mid_wpack_u16(const bf_dims *d);
void bf_mid_forward(struct bf_model_impl *im, int mlp, int B, float pt, uint64_t seed,
                    uint32_t salt, uint64_t step);
void bf_mid_backward(struct bf_model_impl *im, int mlp, int B, float pt);

/* threads.c: 0 until bf_nn_set_threads ran */
int bf_nn_threads_configured(void);

/* model_layout.c */
void bf_model_dims(const bf_model_config *cfg, bf_dims *d);
/* GroupNorm groups used for cnn_hidden H: the largest divisor of H <= 8. */
int bf_model_gn_groups(int H);

#endif
