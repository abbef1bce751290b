/* job.c - start/finish shared by every subcommand (see job.h). */
#include "jobs/job.h"

#include "core/base/log.h"
#include "core/nn/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int start(bf_job *j, const char *cmd, const char *summary, bf_opt *opts, int nopts,
                 int argc, char **argv, int with_mpi)
{
    memset(j, 0, sizeof *j);
    j->cmd = cmd;
    j->opts = opts;
    j->nopts = nopts;
    char err[1024];
    int rc = bf_cli_parse(cmd, summary, opts, nopts, argc, argv, err, sizeof err);
    if (rc == BF_CLI_HELP) {
        bf_cli_free(opts, nopts);
        return BF_EXIT_OK;
    }
    if (rc == BF_CLI_ERROR) {
        fprintf(stderr, "%s\n", err);
        bf_cli_free(opts, nopts);
        return BF_EXIT_USAGE;
    }
    bf_log_configure((bf_log_level)bf_cli_log_level, bf_cli_log_json);
    if (with_mpi) {
        bf_status st = bf_mpi_init_ex(&argc, &argv, &j->mpi, 1);
        j->mpi_up = 1;
        if (st != BF_OK)
            return bf_job_finish(j, st);
    }
    return -1;
}

int bf_job_start(bf_job *j, const char *cmd, const char *summary, bf_opt *opts, int nopts,
                 int argc, char **argv)
{
    return start(j, cmd, summary, opts, nopts, argc, argv, 1);
}

int bf_job_start_nompi(bf_job *j, const char *cmd, const char *summary, bf_opt *opts, int nopts,
                       int argc, char **argv)
{
    return start(j, cmd, summary, opts, nopts, argc, argv, 0);
}

int bf_job_finish(bf_job *j, bf_status st)
{
    if (st == BF_EPREEMPTED) {
        /* every rank saw the signal and committed together: a clean stop */
        if (!j->mpi_up || bf_mpi_rank() == 0)
            fprintf(stderr, "barforge %s: stopped: %s\n", j->cmd, bf_last_error());
    } else if (st != BF_OK) {
        fprintf(stderr, "barforge %s: error: %s\n", j->cmd, bf_last_error());
    }
    if (j->mpi_up) {
        /* a failing rank must not leave the others waiting in a collective */
        if (st != BF_OK && bf_mpi_size() > 1 && st != BF_EINVAL && st != BF_EPREEMPTED) {
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, bf_exit_code(st));
        }
        bf_mpi_finalize(&j->mpi);
    }
    bf_cli_free(j->opts, j->nopts);
    return bf_exit_code(st);
}

int bf_job_usage_error(bf_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "barforge %s: ", j->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (j->mpi_up)
        bf_mpi_finalize(&j->mpi);
    bf_cli_free(j->opts, j->nopts);
    return BF_EXIT_USAGE;
}

int bf_job_set_threads(int num_workers)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = num_workers;
    if (n > 0 && cores > 0 && n > cores)
        n = (int)cores;
    return bf_nn_set_threads(n);
}
