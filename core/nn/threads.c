/* threads.c - one thread count for both OpenMP loops and OpenBLAS.
 *
 * Debian's OpenBLAS here is the pthread build with its own pool; GEMMs are
 * always called outside OpenMP regions, so the two pools take turns.
 */
#include <cblas.h>
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
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    g_threads = n;
    return n;
}

int bf_nn_threads(void)
{
    return g_threads > 0 ? g_threads : omp_get_max_threads();
}
