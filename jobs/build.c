/* build.c - the `barforge build` subcommand is being written this session; until
 * it lands this says so and fails, rather than pretending. */
#include "jobs/job.h"

#include <stdio.h>

int bf_job_build(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "barforge build: not available in this build yet\n");
    return BF_EXIT_FAILURE;
}
