/* model.h - the barforge model engine: config, parameters, forward/backward, AdamW.
 *
 * Two architectures over windows x (B x C x L, channel-first) with one symbol
 * id per window, predicting one float per window (the future log return):
 *   patchtst (default): symbol embedding tiled along time -> CNN stem
 *       (depthwise-separable dilated causal blocks, GLU, GroupNorm) -> channel
 *       mixer (mlp | ivar | none) -> patch tokenizer + learned positions ->
 *       causal pre-norm Transformer -> last token -> linear head.
 *   baseline: the same stem and mixer, then one token per time step
 *       (no patching) through the same Transformer and head.
 * docs/model.md gives every shape, the initialization and the choices made.
 *
 * Engine invariants (llm.c manner):
 *   - params, grads, m, v are each ONE allocation of n_params floats sharing
 *     the layout of the tensor table; an all-reduce, an optimizer step or a
 *     checkpoint is one operation over one buffer.
 *   - activations are allocated once for max_batch at init; forward, backward
 *     and the optimizer never allocate.
 *   - every random draw (init, dropout) is a pure function of
 *     (seed, step, layer, element) through Philox, never of thread order.
 *   - backward ACCUMULATES into grads (+=); call bf_model_zero_grad between
 *     optimizer steps (allows gradient accumulation over micro-batches).
 *
 * Typical step:
 *   bf_model_zero_grad(&m);
 *   BF_TRY(bf_model_forward(&m, x, sym, y, B, 1, step, &loss));
 *   BF_TRY(bf_model_backward(&m));
 *   (all-reduce m.grads over ranks here, divided by the rank count)
 *   float gnorm = bf_grad_clip(m.grads, m.n_params, grad_clip);
 *   bf_model_adamw_step(&m, lr, 0.9f, 0.999f, 1e-8f, weight_decay, step + 1);
 */
#ifndef BF_NN_MODEL_H
#define BF_NN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

#define BF_NN_MAX_BLOCKS 16       /* most --cnn-blocks supported */
#define BF_NN_MAX_TENSORS 512     /* most named tensors in one model */
#define BF_NN_NAME_LEN 48

typedef enum bf_arch { BF_ARCH_PATCHTST = 0, BF_ARCH_BASELINE = 1 } bf_arch;
typedef enum bf_mixer { BF_MIXER_MLP = 0, BF_MIXER_IVAR = 1, BF_MIXER_NONE = 2 } bf_mixer;
typedef enum bf_loss { BF_LOSS_HUBER = 0, BF_LOSS_MSE = 1 } bf_loss;

/* Names as on the command line ("patchtst", "mlp", "huber"); NULL when out of range. */
const char *bf_arch_name(bf_arch a);
const char *bf_mixer_name(bf_mixer m);
const char *bf_loss_name(bf_loss l);

/* Field names follow the seed's flags (--d-model -> d_model). */
typedef struct bf_model_config {
    bf_arch arch;
    int n_features;   /* input channels C (from the dataset) */
    int seq_len;      /* window length L */
    int n_symbols;    /* rows of the symbol embedding (from the dataset) */
    int emb_dim;      /* symbol embedding width, tiled as extra channels; 0 disables */
    int cnn_hidden;
    int cnn_blocks;
    int cnn_kernels[BF_NN_MAX_BLOCKS];   /* first n_cnn_kernels used */
    int cnn_dilations[BF_NN_MAX_BLOCKS]; /* first n_cnn_dilations used */
    int n_cnn_kernels;   /* list lengths as given, checked against cnn_blocks */
    int n_cnn_dilations;
    float cnn_dropout;
    int patch_size;   /* patchtst only */
    int patch_stride; /* patchtst only */
    int d_model;
    int n_heads;
    int num_layers;
    float dropout;    /* Transformer dropout (embeddings, attention output, MLP output) */
    bf_mixer channel_mixer;
    bf_loss loss;
    float huber_delta;
} bf_model_config;

/* The seed's smoke-test model: seq 64, cnn-hidden 128 x 3 blocks, kernels
 * 5,5,3, dilations 1,2,4, cnn-dropout 0.1, patch 8/4, d-model 128, 4 heads,
 * 3 layers, dropout 0.1, mlp mixer, emb-dim 12, huber 0.01; n_features 33 and
 * n_symbols 50 are placeholders the dataset overrides. */
void bf_model_config_defaults(bf_model_config *cfg);

/* BF_EINVAL with a message naming both flags of a bad combination, e.g.
 * "--d-model 130 is not divisible by --n-heads 4". */
bf_status bf_model_config_validate(const bf_model_config *cfg);

/* Set one field from text. key is a seed flag name with or without leading
 * dashes, '-' or '_' alike ("--d-model", "d_model"); lists are "5,5,3".
 * Setting cnn_blocks does not resize the lists; validate checks they match.
 * BF_EINVAL naming the key on an unknown key or a malformed value. */
bf_status bf_model_config_set(bf_model_config *cfg, const char *key, const char *value);

/* One flat JSON object with the seed's names and lists as arrays:
 * {"arch":"patchtst","n_features":33,...,"cnn_kernels":[5,5,3],...}.
 * Returns BF_EINVAL when n is too small (the text needs < 1024 bytes). */
bf_status bf_model_config_to_json(const bf_model_config *cfg, char *buf, size_t n);

/* Parse such an object (flat: strings, numbers, arrays of numbers; unknown
 * keys are an error so that typos are caught). Fields not present keep the
 * values cfg already holds, so call bf_model_config_defaults first. */
bf_status bf_model_config_from_json(const char *json, bf_model_config *cfg);

/* Parameter count of a (valid) config, without allocating a model. */
int64_t bf_model_config_n_params(const bf_model_config *cfg);

/* One named slice of the flat parameter buffer. Shapes follow PyTorch's
 * conventions where they exist (Linear weight: out x in); docs/model.md lists
 * every tensor. decay: 1 when AdamW applies weight decay (matrices only;
 * biases, norm gains, embeddings and positions have 0). */
typedef struct bf_tensor_info {
    char name[BF_NN_NAME_LEN];
    int64_t offset;  /* in floats from the start of params */
    int64_t numel;
    int ndim;
    int shape[4];
    int decay;
} bf_tensor_info;

struct bf_model_impl; /* activations and scratch, private to core/nn */

typedef struct bf_model {
    bf_model_config cfg;
    int max_batch;
    uint64_t seed;          /* init and dropout key */
    uint32_t dropout_salt;  /* mixed into dropout counters: set to the MPI rank */
    int64_t n_params;
    float *params;          /* n_params each, one allocation each */
    float *grads;
    float *m;               /* AdamW first moment */
    float *v;               /* AdamW second moment */
    uint8_t *decay_mask;    /* n_params: 1 where weight decay applies */
    int n_tensors;
    bf_tensor_info tensors[BF_NN_MAX_TENSORS];
    float *pred;            /* max_batch predictions of the last forward */
    float loss;             /* loss of the last forward with targets */
    struct bf_model_impl *impl;
} bf_model;

/* Validate cfg, lay out and initialize the parameters from seed, zero the
 * grads and moments, allocate activations for max_batch windows. */
bf_status bf_model_init(bf_model *m, const bf_model_config *cfg, int max_batch, uint64_t seed);
void bf_model_free(bf_model *m);

int bf_model_n_tensors(const bf_model *m);
const bf_tensor_info *bf_model_tensor(const bf_model *m, int i);
/* Pointer into params of the named tensor, NULL when absent. */
float *bf_model_param(bf_model *m, const char *name);

/* x: B x C x L channel-first (C = n_features, L = seq_len); sym_id: B ids in
 * [0, n_symbols); y: B targets or NULL. train=1 applies dropout with masks
 * from (seed, dropout_salt, step, layer, element). Writes m->pred (B floats)
 * and, when y is given, the mean loss into *loss_out (may be NULL) and m->loss.
 * BF_EINVAL for B outside 1..max_batch or a symbol id out of range; BF_ENAN
 * when the loss is not finite. */
bf_status bf_model_forward(bf_model *m, const float *x, const int32_t *sym_id, const float *y,
                           int B, int train, uint64_t step, float *loss_out);

/* Gradient of the mean loss of the last forward (which must have had y),
 * ADDED into m->grads. */
bf_status bf_model_backward(bf_model *m);
void bf_model_zero_grad(bf_model *m);

/* Global L2 norm of grads (accumulated in double); when max_norm > 0 and the
 * norm exceeds it, scales grads by max_norm / (norm + 1e-6) as PyTorch's
 * clip_grad_norm_ does. Returns the pre-clip norm. */
float bf_grad_clip(float *grads, int64_t n, float max_norm);

/* AdamW (Loshchilov & Hutter) with bias correction; t is the 1-based step.
 * Decoupled decay p -= lr*wd*p where decay_mask[i] (NULL: everywhere). */
void bf_adamw_step(float *params, const float *grads, float *m, float *v, int64_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int64_t t,
                   const uint8_t *decay_mask);
void bf_model_adamw_step(bf_model *m, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int64_t t);

/* Log (BF_INFO0) the parameter count and one line per tensor. */
void bf_model_print_summary(const bf_model *m);

/* Flat parameter file (no HDF5 needed), little-endian, field by field:
 *   char[8]  magic "BFPARAM1"
 *   uint32   version (1)
 *   uint32   json_len: bytes of the config JSON that follows (no NUL)
 *   int64    n_params
 *   char[json_len] config JSON (bf_model_config_to_json)
 *   float32[n_params] params
 * Written to path.tmp, fsynced, renamed. Reading checks the magic, the
 * config and n_params against the model (BF_ECORRUPT / BF_EINVAL naming path). */
bf_status bf_model_save_params(const bf_model *m, const char *path);
bf_status bf_model_load_params(bf_model *m, const char *path);
/* Read only the config of such a file (to build the model before loading). */
bf_status bf_param_file_read_config(const char *path, bf_model_config *cfg);

/* Threads for OpenMP loops (OpenBLAS itself stays on one thread: each GEMM
 * is split across these); n <= 0 means BARFORGE_THREADS from the
 * environment, else all cores. Returns the count in force. */
int bf_nn_set_threads(int n);
int bf_nn_threads(void);

/* OpenBLAS is loaded at the first GEMM (core/nn/blas_lazy.c): NULL when it
 * is loaded, else why it cannot be (loading it now if not yet tried). */
const char *bf_nn_blas_error(void);

/* Mixed precision (--use-amp on a CPU): the GEMMs round their inputs to
 * bfloat16 and accumulate in fp32 on Intel AMX (core/nn/gemm_bf16.h). Off by
 * default; bf_nn_set_amp(1) returns 0 and logs why where the CPU or kernel
 * cannot, and the engine stays fp32. Process-wide. */
int bf_nn_set_amp(int on);
int bf_nn_amp(void);

#endif
