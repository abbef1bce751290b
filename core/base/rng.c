/* rng.c - Philox4x32-10 (Salmon et al., SC'11). */
#include "core/base/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void bf_philox4x32(uint64_t seed, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                   uint32_t out[4])
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3;
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, x0, &hi0, &lo0);
        mulhilo(PHILOX_M1, x2, &hi1, &lo1);
        uint32_t y0 = hi1 ^ x1 ^ k0, y1 = lo1, y2 = hi0 ^ x3 ^ k1, y3 = lo0;
        x0 = y0; x1 = y1; x2 = y2; x3 = y3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}

static inline double u53(uint32_t a, uint32_t b)
{
    uint64_t v = ((uint64_t)(a >> 5) << 26) | (b >> 6);
    return (double)v * (1.0 / 9007199254740992.0);
}

static void block(uint64_t seed, uint32_t stream, uint64_t hi, uint64_t lo, uint32_t o[4])
{
    /* the stream is folded into the key so streams never share outputs */
    uint64_t key = seed ^ ((uint64_t)stream * 0x9E3779B97F4A7C15ull);
    bf_philox4x32(key, (uint32_t)lo, (uint32_t)(lo >> 32), (uint32_t)hi, (uint32_t)(hi >> 32), o);
}

double bf_rng_uniform(uint64_t seed, uint32_t stream, uint64_t hi, uint64_t lo)
{
    uint32_t o[4];
    block(seed, stream, hi, lo, o);
    return u53(o[0], o[1]);
}

float bf_rng_uniform_f(uint64_t seed, uint32_t stream, uint64_t hi, uint64_t lo)
{
    uint32_t o[4];
    block(seed, stream, hi, lo, o);
    return (float)(o[0] >> 8) * (1.0f / 16777216.0f);
}

static double box_muller(double u1, double u2)
{
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double bf_rng_normal(uint64_t seed, uint32_t stream, uint64_t hi, uint64_t lo)
{
    uint32_t o[4];
    block(seed, stream, hi, lo, o);
    return box_muller(u53(o[0], o[1]), u53(o[2], o[3]));
}

void bf_rng_init(bf_rng *r, uint64_t seed, uint32_t stream, uint64_t key2)
{
    r->seed = seed;
    r->stream = stream;
    r->key2 = key2;
    r->ctr = 0;
    r->have = 0;
}

uint32_t bf_rng_u32(bf_rng *r)
{
    if (r->have == 0) {
        block(r->seed, r->stream, r->key2, r->ctr++, r->buf);
        r->have = 4;
    }
    return r->buf[4 - r->have--];
}

double bf_rng_next_uniform(bf_rng *r)
{
    uint32_t a = bf_rng_u32(r), b = bf_rng_u32(r);
    return u53(a, b);
}

double bf_rng_next_normal(bf_rng *r)
{
    double u1 = bf_rng_next_uniform(r), u2 = bf_rng_next_uniform(r);
    return box_muller(u1, u2);
}

uint64_t bf_rng_below(bf_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    uint64_t lim = UINT64_MAX - (UINT64_MAX % n);
    for (;;) {
        uint64_t v = ((uint64_t)bf_rng_u32(r) << 32) | bf_rng_u32(r);
        if (v < lim)
            return v % n;
    }
}

void bf_rng_permutation(bf_rng *r, int64_t *perm, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bf_rng_below(r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
