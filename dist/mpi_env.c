#define _GNU_SOURCE
/* mpi_env.c - see mpi_env.h. */
#include "dist/mpi_env.h"

#include "core/base/check.h"

#include <stdlib.h>
#include <string.h>

static int g_rank = 0, g_size = 1, g_active = 0;

static bf_status launcher_error(const char *nt)
{
    return BF_FAIL(BF_EINVAL,
                   "SLURM_NTASKS=%s but the MPI world has 1 rank: the launcher is misconfigured "
                   "(each task would run the whole job). Use `srun --mpi=pmix` or `mpirun` "
                   "inside the allocation, or set BARFORGE_ALLOW_SINGLETON=1 to override",
                   nt);
}

bf_status bf_mpi_init_ex(int *argc, char ***argv, bf_mpi *m, int alone_without_mpi)
{
    memset(m, 0, sizeof *m);
    const char *nt = getenv("SLURM_NTASKS");
    int many = nt && atoi(nt) > 1 && !getenv("BARFORGE_ALLOW_SINGLETON");
    /* Inside an srun step with no PMI wire-up (srun --mpi=none) Open MPI's
     * MPI_Init itself fails; say what is wrong before it does. */
    if (many && getenv("SLURM_STEP_ID") && !getenv("PMIX_RANK") && !getenv("PMI_RANK") &&
        !getenv("PMI_FD") && !getenv("OMPI_COMM_WORLD_SIZE"))
        return launcher_error(nt);
    int inited = 0;
    MPI_Initialized(&inited);
    int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
                   getenv("PMI_FD");
    const char *force = getenv("BARFORGE_MPI_SINGLETON");
    if (!inited && !launched && alone_without_mpi && !many && !(force && atoi(force) > 0)) {
        /* A plain process with no launcher is a world of one: every
         * collective here is a no-op at size 1 and files are written with
         * plain I/O, so MPI is not started at all (MPI_Init alone costs
         * 25-40 ms, a tenth of a small build). */
        m->rank = 0;
        m->size = 1;
        g_rank = 0;
        g_size = 1;
        g_active = 0;
        bf_set_proc_identity(0, 1);
        return BF_OK;
    }
    if (!inited && !launched) {
        /* A singleton: Open MPI would start an orted and probe every
         * transport (~0.4 s per command); an isolated singleton with
         * shared-memory/self transports starts in ~0.03 s. Settings the user
         * made win (no overwrite). */
        setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
        setenv("OMPI_MCA_pml", "ob1", 0);
        setenv("OMPI_MCA_btl", "self,vader", 0);
    }
    if (!inited) {
        int provided = 0;
        BF_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
        m->initialized_here = 1;
    }
    BF_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &m->rank));
    BF_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &m->size));
    g_rank = m->rank;
    g_size = m->size;
    g_active = 1;
    bf_set_proc_identity(m->rank, m->size);
    if (many && m->size == 1)
        return launcher_error(nt);
    return BF_OK;
}

bf_status bf_mpi_init(int *argc, char ***argv, bf_mpi *m)
{
    return bf_mpi_init_ex(argc, argv, m, 0);
}

int bf_mpi_active(void) { return g_active; }

void bf_mpi_finalize(bf_mpi *m)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (m->initialized_here && !fin)
        MPI_Finalize();
    m->initialized_here = 0;
}

int bf_mpi_rank(void) { return g_rank; }
int bf_mpi_size(void) { return g_size; }

void bf_shard_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi)
{
    int64_t base = n / size, rem = n % size;
    *lo = rank * base + (rank < rem ? rank : rem);
    *hi = *lo + base + (rank < rem ? 1 : 0);
}

void bf_shard_weighted(const double *weight, int64_t n, int size, int *owner)
{
    int64_t *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    double *load = calloc((size_t)size, sizeof *load);
    if (!order || !load) { /* fall back to round robin: still deterministic */
        for (int64_t i = 0; i < n; i++)
            owner[i] = (int)(i % size);
        free(order);
        free(load);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    /* insertion sort is fine for symbol counts; stable, by weight descending */
    for (int64_t i = 1; i < n; i++) {
        int64_t k = order[i], j = i - 1;
        while (j >= 0 && weight[order[j]] < weight[k]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = k;
    }
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int r = 1; r < size; r++)
            if (load[r] < load[best])
                best = r;
        owner[order[i]] = best;
        load[best] += weight[order[i]];
    }
    free(order);
    free(load);
}

static bf_status allreduce(void *buf, int64_t n, MPI_Datatype t, MPI_Op op)
{
    if (g_size == 1 || n == 0)
        return BF_OK;
    if (n > INT32_MAX)
        return BF_FAIL(BF_EINVAL, "allreduce of %lld elements exceeds one MPI call", (long long)n);
    BF_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, t, op, MPI_COMM_WORLD));
    return BF_OK;
}

bf_status bf_allreduce_sum_i64(int64_t *b, int64_t n) { return allreduce(b, n, MPI_INT64_T, MPI_SUM); }
bf_status bf_allreduce_sum_f64(double *b, int64_t n) { return allreduce(b, n, MPI_DOUBLE, MPI_SUM); }
bf_status bf_allreduce_sum_f32(float *b, int64_t n) { return allreduce(b, n, MPI_FLOAT, MPI_SUM); }
bf_status bf_allreduce_max_f64(double *b, int64_t n) { return allreduce(b, n, MPI_DOUBLE, MPI_MAX); }
bf_status bf_allreduce_min_i64(int64_t *b, int64_t n) { return allreduce(b, n, MPI_INT64_T, MPI_MIN); }
bf_status bf_allreduce_max_i64(int64_t *b, int64_t n) { return allreduce(b, n, MPI_INT64_T, MPI_MAX); }

bf_status bf_exscan_i64(int64_t v, int64_t *out)
{
    *out = 0;
    if (g_size == 1)
        return BF_OK;
    int64_t r = 0;
    BF_CHECK_MPI(MPI_Exscan(&v, &r, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    *out = g_rank == 0 ? 0 : r;
    return BF_OK;
}

bf_status bf_bcast_bytes(void *buf, int64_t n, int root)
{
    if (g_size == 1 || n == 0)
        return BF_OK;
    BF_CHECK_MPI(MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD));
    return BF_OK;
}

bf_status bf_barrier(void)
{
    if (g_size > 1)
        BF_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    return BF_OK;
}

bf_status bf_status_agree(bf_status local)
{
    if (g_size == 1)
        return local;
    int v = (int)local, r = 0;
    if (MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return BF_FAIL(BF_EMPI, "status agreement failed");
    return (bf_status)r;
}
