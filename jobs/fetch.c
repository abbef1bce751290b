/* fetch.c - the `barforge fetch` subcommand is being written this session; until
 * it lands this says so and fails, rather than pretending. */
#include "jobs/job.h"

#include <stdio.h>

int bf_job_fetch(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "barforge fetch: not available in this build yet\n");
    return BF_EXIT_FAILURE;
}
