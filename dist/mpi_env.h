/* mpi_env.h - MPI bootstrap, sharding and small collectives.
 *
 * Every subcommand runs as one process, under `mpirun -n N`, or under
 * `srun --mpi=pmix`. A plain process (no launcher in the environment) started
 * through bf_mpi_init_ex(..., 1) is a world of one without MPI at all: the
 * collectives below are no-ops at size 1 and nothing else may call MPI then
 * (bf_mpi_active() says which; BARFORGE_MPI_SINGLETON=1 starts an MPI
 * singleton instead). bf_mpi_init detects a
 * misconfigured launcher: SLURM_NTASKS > 1 but a world of one rank means N
 * copies would each do the whole job, so it refuses (BF_EINVAL).
 * Collective helpers take element counts and types, never byte counts.
 */
#ifndef BF_MPI_ENV_H
#define BF_MPI_ENV_H

#include "core/base/status.h"

#include <mpi.h>
#include <stdint.h>

typedef struct bf_mpi {
    int rank, size;
    int initialized_here; /* we called MPI_Init and must finalize */
} bf_mpi;

/* Starts MPI (a singleton when no launcher is present). */
bf_status bf_mpi_init(int *argc, char ***argv, bf_mpi *m);
/* Same, but alone_without_mpi = 1 leaves MPI unstarted in a plain process. */
bf_status bf_mpi_init_ex(int *argc, char ***argv, bf_mpi *m, int alone_without_mpi);
/* 1 when MPI is initialized by bf_mpi_init*, 0 for a world of one without MPI */
int bf_mpi_active(void);
void bf_mpi_finalize(bf_mpi *m);
int bf_mpi_rank(void);
int bf_mpi_size(void);

/* Contiguous balanced shard of n items for rank r of size: [*lo, *hi). */
void bf_shard_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);
/* Balanced assignment of weighted items: owner[i] in [0,size) chosen greedily
 * (largest first onto the least-loaded rank; ties by index), deterministic. */
void bf_shard_weighted(const double *weight, int64_t n, int size, int *owner);

/* Collectives over MPI_COMM_WORLD. */
bf_status bf_allreduce_sum_i64(int64_t *buf, int64_t n);
bf_status bf_allreduce_sum_f64(double *buf, int64_t n);
bf_status bf_allreduce_sum_f32(float *buf, int64_t n);
bf_status bf_allreduce_max_f64(double *buf, int64_t n);
bf_status bf_allreduce_min_i64(int64_t *buf, int64_t n);
bf_status bf_allreduce_max_i64(int64_t *buf, int64_t n);
/* exclusive prefix sum of one value across ranks (rank 0 gets 0) */
bf_status bf_exscan_i64(int64_t v, int64_t *out);
bf_status bf_bcast_bytes(void *buf, int64_t n, int root);
bf_status bf_barrier(void);
/* Agree on a status: the worst (max) status over ranks; all ranks return it. */
bf_status bf_status_agree(bf_status local);

#endif
