/* blas_lazy.c - OpenBLAS, loaded at the first GEMM.
 *
 * Most barforge processes (fetch, build, evaluate) never multiply a matrix,
 * yet linking OpenBLAS made each of them load it (with libgfortran and
 * libquadmath), run its constructor, which detects the CPU and starts a
 * pool of threads that spin for about 0.1 s of a core, and then stop that
 * pool: about 1.8 ms at every start and a busy second core. The three
 * OpenBLAS functions the engine calls are defined here instead; the first
 * call opens the library with dlopen (the path pkg-config gave at build time
 * first, then the soname; BARFORGE_LIBOPENBLAS names the one library to load
 * instead) and forwards.
 *
 * The engine keeps OpenBLAS single-threaded: every GEMM is split across
 * OpenMP's threads instead (ops_linear.c; two thread pools spinning against
 * each other made a step 3x slower on 2 cores). So at load the library is
 * set to one thread and its pool is stopped and joined with
 * blas_thread_shutdown_ (what OpenBLAS's own fork handler calls; a BLAS
 * without it keeps its pool). Joining also means no pool thread is still
 * starting when a short process exits (LeakSanitizer reported such a
 * thread's start-up allocations as leaks).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/base/dl.h"
#include "core/nn/model.h"

#ifndef BF_OPENBLAS_PATH
#define BF_OPENBLAS_PATH ""
#endif

typedef void sgemm_fn(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                      blasint, blasint, float, const float *, blasint, const float *, blasint,
                      float, float *, blasint);

static struct {
    void *sgemm; /* sgemm_fn; set last, atomically: non-NULL means loaded */
    void (*set_num_threads)(int);
    char *(*get_config)(void);
} g_fn;
static char g_err[512];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const char *const names[] = {BF_OPENBLAS_PATH, "libopenblas.so.0", "libopenblas.so"};
    void *h = bf_dl_open_first("BARFORGE_LIBOPENBLAS", names, sizeof names / sizeof names[0],
                               "OpenBLAS", "libopenblas0", g_err, sizeof g_err);
    if (!h)
        return;
    void *sgemm = dlsym(h, "cblas_sgemm");
    *(void **)&g_fn.set_num_threads = dlsym(h, "openblas_set_num_threads");
    *(void **)&g_fn.get_config = dlsym(h, "openblas_get_config");
    int (*shutdown)(void);
    *(void **)&shutdown = dlsym(h, "blas_thread_shutdown_");
    if (!sgemm || !g_fn.set_num_threads || !g_fn.get_config) {
        snprintf(g_err, sizeof g_err, "the BLAS loaded is not OpenBLAS (no cblas_sgemm, "
                 "openblas_set_num_threads or openblas_get_config)");
        return;
    }
    g_fn.set_num_threads(1); /* starts the pool again if it was down... */
    if (shutdown)
        shutdown();          /* ...so it is stopped after */
    /* published last: cblas_sgemm's fast path reads it without pthread_once */
    __atomic_store_n(&g_fn.sgemm, sgemm, __ATOMIC_RELEASE);
}

const char *bf_nn_blas_error(void)
{
    pthread_once(&g_once, load);
    return __atomic_load_n(&g_fn.sgemm, __ATOMIC_ACQUIRE) ? NULL : g_err;
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint M,
                 OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *A, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *C,
                 OPENBLAS_CONST blasint ldc)
{
    void *f = __atomic_load_n(&g_fn.sgemm, __ATOMIC_ACQUIRE);
    if (__builtin_expect(!f, 0)) {
        const char *e = bf_nn_blas_error();
        if (e) { /* no engine work is possible without it */
            fprintf(stderr, "barforge: %s\n", e);
            abort();
        }
        f = __atomic_load_n(&g_fn.sgemm, __ATOMIC_ACQUIRE);
    }
    ((sgemm_fn *)f)(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void openblas_set_num_threads(int n)
{
    if (!bf_nn_blas_error())
        g_fn.set_num_threads(n);
}

char *openblas_get_config(void)
{
    static char none[] = "not loadable";
    return bf_nn_blas_error() ? none : g_fn.get_config();
}
