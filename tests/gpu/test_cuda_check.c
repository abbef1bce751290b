/* test_cuda_check.c - the CUDA-side check macros format the library's own
 * error for real failing calls. Runs with or without a GPU: asking for a
 * device that does not exist fails everywhere (no driver, or too few GPUs). */
#include "core/gpu/check_cuda.h"

#include <stdio.h>
#include <string.h>

static bf_status bad_device(void)
{
    BF_CHECK_CUDA(cudaSetDevice(4096));
    return BF_OK;
}

static bf_status bad_cublas(void)
{
    BF_CHECK_CUBLAS(cublasSetMathMode(NULL, CUBLAS_DEFAULT_MATH));
    return BF_OK;
}

#ifdef BF_HAVE_NCCL
static bf_status bad_nccl(void)
{
    int count = 0;
    BF_CHECK_NCCL(ncclCommCount(NULL, &count));
    return BF_OK;
}
#endif

int main(void)
{
    int fails = 0;
    bf_status st = bad_device();
    if (st != BF_ECUDA || !strstr(bf_last_error(), "cudaSetDevice(4096) failed: ") ||
        !strstr(bf_last_error(), "test_cuda_check.c:")) {
        fprintf(stderr, "FAIL: cuda check: status %d, message '%s'\n", st, bf_last_error());
        fails++;
    }
    st = bad_cublas();
    if (st != BF_ECUDA || !strstr(bf_last_error(), "cublasSetMathMode(NULL, CUBLAS_DEFAULT_MATH) failed: ")) {
        fprintf(stderr, "FAIL: cublas check: status %d, message '%s'\n", st, bf_last_error());
        fails++;
    }
#ifdef BF_HAVE_NCCL
    st = bad_nccl();
    if (st != BF_ECUDA || !strstr(bf_last_error(), "ncclCommCount(NULL, &count) failed: ")) {
        fprintf(stderr, "FAIL: nccl check: status %d, message '%s'\n", st, bf_last_error());
        fails++;
    }
#endif
    if (fails)
        return 1;
    printf("test_cuda_check: all checks passed (%s)\n", bf_last_error());
    return 0;
}
