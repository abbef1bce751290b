/* train.c - the `barforge train` subcommand is being written this session; until
 * it lands this says so and fails, rather than pretending. */
#include "jobs/job.h"

#include <stdio.h>

int bf_job_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "barforge train: not available in this build yet\n");
    return BF_EXIT_FAILURE;
}
