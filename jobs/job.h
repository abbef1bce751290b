/* job.h - what every subcommand shares: start (parse flags, set up logging
 * and MPI) and finish (print the final error once, pick the exit code).
 *
 * Pattern for a job:
 *   int bf_job_x(int argc, char **argv) {
 *       ... declare opts ...
 *       bf_job j;
 *       int rc = bf_job_start(&j, "x", "summary", opts, n, argc, argv);
 *       if (rc >= 0) return rc;            // help (0) or usage error (2)
 *       bf_status st = ...work...;
 *       return bf_job_finish(&j, st);
 *   }
 */
#ifndef BF_JOB_H
#define BF_JOB_H

#include "core/base/status.h"
#include "dist/mpi_env.h"
#include "jobs/cli.h"

typedef struct bf_job {
    const char *cmd;
    bf_opt *opts;
    int nopts;
    bf_mpi mpi;
    int mpi_up;
} bf_job;

/* Returns -1 when the job should run, else the exit code to return now. */
int bf_job_start(bf_job *j, const char *cmd, const char *summary, bf_opt *opts, int nopts,
                 int argc, char **argv);
/* Same without MPI (version, help-only commands). */
int bf_job_start_nompi(bf_job *j, const char *cmd, const char *summary, bf_opt *opts, int nopts,
                       int argc, char **argv);
/* Print "barforge CMD: error: <message>" when st != BF_OK, finalize MPI, free
 * flags, return bf_exit_code(st). */
int bf_job_finish(bf_job *j, bf_status st);
/* A usage error detected after parsing (e.g. inconsistent flags): prints
 * "barforge CMD: <msg>" and returns 2 after finalizing. */
int bf_job_usage_error(bf_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* CPU threads of the engine from the seed's --num-workers: n > 0 uses n,
 * at most the cores online; 0 leaves it to BARFORGE_THREADS, else all cores.
 * Returns the count in force. */
int bf_job_set_threads(int num_workers);

/* gpu_probe.c: the CUDA runtime, cuDNN and NCCL versions and the devices,
 * by loading the libraries now (never fails; missing ones read 0) */
struct bf_gpu_info;
void bf_gpu_probe(struct bf_gpu_info *info);

/* Subcommands (one file each in jobs/). */
int bf_job_fetch(int argc, char **argv);
int bf_job_build(int argc, char **argv);
int bf_job_train(int argc, char **argv);
int bf_job_eval(int argc, char **argv);
int bf_job_demo(int argc, char **argv);
int bf_job_version(int argc, char **argv);

#endif
