/* demo.c - placeholder until the pipeline stages land this session. */
#include "jobs/job.h"

#include <stdio.h>

int bf_job_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "barforge demo: not available in this build yet\n");
    return BF_EXIT_FAILURE;
}
