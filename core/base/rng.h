/* rng.h - Philox4x32-10 counter-based random numbers.
 *
 * Every random draw in barforge is a pure function of (seed, stream, counter):
 * initialization, dropout masks, shuffles and synthetic data never depend on
 * thread count or call order, and resuming needs only the counters.
 * Streams separate uses (see BF_RNG_STREAM_*); counters are positions.
 */
#ifndef BF_RNG_H
#define BF_RNG_H

#include <stdint.h>

enum {
    BF_RNG_STREAM_INIT = 1,     /* parameter initialization */
    BF_RNG_STREAM_DROPOUT = 2,  /* dropout masks: counter = (step, layer, element) */
    BF_RNG_STREAM_SHUFFLE = 3,  /* epoch permutations */
    BF_RNG_STREAM_SYNTH = 4,    /* synthetic market data */
    BF_RNG_STREAM_JITTER = 5,   /* retry backoff jitter */
};

/* Four 32-bit outputs for the 128-bit counter (c0..c3) under key (seed). */
void bf_philox4x32(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                   uint32_t out[4]);

/* Convenience: uniform in [0,1) and standard normal from (seed, stream, hi, lo). */
double bf_rng_uniform(uint64_t seed, uint32_t stream, uint64_t ctr_hi, uint64_t ctr_lo);
float bf_rng_uniform_f(uint64_t seed, uint32_t stream, uint64_t ctr_hi, uint64_t ctr_lo);
double bf_rng_normal(uint64_t seed, uint32_t stream, uint64_t ctr_hi, uint64_t ctr_lo);

/* A sequential generator over one stream, for loops that draw many numbers. */
typedef struct bf_rng {
    uint64_t seed;
    uint32_t stream;
    uint64_t key2;   /* extra key word (e.g. symbol id) */
    uint64_t ctr;    /* position; saving it is enough to resume */
    uint32_t buf[4];
    int have;
} bf_rng;

void bf_rng_init(bf_rng *r, uint64_t seed, uint32_t stream, uint64_t key2);
uint32_t bf_rng_u32(bf_rng *r);
double bf_rng_next_uniform(bf_rng *r);   /* [0,1) with 53 bits */
double bf_rng_next_normal(bf_rng *r);    /* Box-Muller */
/* Uniform integer in [0, n) without modulo bias. */
uint64_t bf_rng_below(bf_rng *r, uint64_t n);
/* Fisher-Yates permutation of 0..n-1 into perm. */
void bf_rng_permutation(bf_rng *r, int64_t *perm, int64_t n);

#endif
