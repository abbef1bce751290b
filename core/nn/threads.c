/* threads.c - the engine's thread count.
 *
 * All parallelism is OpenMP's; OpenBLAS is kept single-threaded and each
 * GEMM is split across the OpenMP threads (ops_linear.c). Debian's default
 * OpenBLAS is the pthread build, whose own pool would otherwise spin and
 * yield against OpenMP's on every call: blas_lazy.c sets it to one thread
 * and stops its pool when it loads it.
 */
#include <omp.h>
#include <stdlib.h>

#include "core/nn/model.h"

static int g_threads = 0;

int bf_nn_set_threads(int n)
{
    if (n <= 0) {
        const char *e = getenv("BARFORGE_THREADS");
        n = e ? atoi(e) : 0;
    }
    if (n <= 0)
        n = omp_get_num_procs();
    omp_set_num_threads(n); /* OpenBLAS itself runs on one thread (blas_lazy.c) */
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
