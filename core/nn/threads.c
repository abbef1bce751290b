/* threads.c - the engine's thread count.
 *
 * All parallelism is OpenMP's; OpenBLAS is kept single-threaded and each
 * GEMM is split across the OpenMP threads (ops_linear.c). Debian's default
 * OpenBLAS is the pthread build, whose own pool would otherwise spin and
 * yield against OpenMP's on every call.
 */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "core/nn/model.h"

static int g_threads = 0;

/* Debian's default OpenBLAS (the pthread variant) starts a pool of threads
 * when it is loaded, and each pool thread spins for about 0.1 s of a core
 * before it sleeps: every process lost a core for that long, even one that
 * never calls BLAS (a build of 50 symbols takes 0.15 s). The engine keeps
 * OpenBLAS single-threaded anyway, so the pool is stopped (its threads
 * joined) as soon as this library is loaded: shared libraries' constructors
 * run before this one. blas_thread_shutdown_ is what OpenBLAS's own fork
 * handler calls; other BLAS builds lack the symbol (weak: then NULL).
 * OPENBLAS_NUM_THREADS cannot do this: the library reads it in its own
 * constructor. openblas_set_num_threads starts the pool again when it is
 * down, so bf_nn_set_threads stops it once more afterwards. Joining also
 * means no pool thread is still starting when a short process exits
 * (LeakSanitizer reported such a thread's start-up allocations as leaks). */
extern int blas_thread_shutdown_(void) __attribute__((weak));

__attribute__((constructor)) static void stop_blas_pool(void)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

int bf_nn_set_threads(int n)
{
    if (n <= 0) {
        const char *e = getenv("BARFORGE_THREADS");
        n = e ? atoi(e) : 0;
    }
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
    stop_blas_pool();
    g_threads = n;
    return n;
}

int bf_nn_threads(void)
{
    return g_threads > 0 ? g_threads : omp_get_max_threads();
}

int bf_nn_threads_configured(void)
{
    return g_threads;
}
