/* test_check.c - the check macros turn real failures of MPI, HDF5 and curl
 * calls into one message with the call, the library's reason, file:line,
 * rank and host, and the right status. */
#include "core/base/check.h"
#include "dist/mpi_env.h"
#include "test_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <hdf5.h>

static bf_status mpi_bad(void)
{
    int r;
    BF_CHECK_MPI(MPI_Comm_rank(MPI_COMM_NULL, &r));
    return BF_OK;
}

static bf_status h5_bad(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    BF_CHECK_H5(H5Fopen("/nonexistent/dir/x.h5", H5F_ACC_RDONLY, H5P_DEFAULT), "opening the cache");
    return BF_OK;
}

static bf_status curl_bad(void)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, "gopherz://127.0.0.1/");
    bf_status st = BF_OK;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    BF_CHECK_CURL(rc);
    return st;
}

static bf_status sys_bad(void)
{
    BF_CHECK_SYS(-1 + 0 * (errno = 2), "reading '%s'", "/x");
    return BF_OK;
}

int main(int argc, char **argv)
{
    bf_mpi m;
    if (bf_mpi_init(&argc, &argv, &m) != BF_OK)
        return 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    char where[64];
    snprintf(where, sizeof where, "rank 0, host %s)", bf_proc_host());

    bf_status st = mpi_bad();
    T_EQ_I(st, BF_EMPI);
    T_CONTAINS(bf_last_error(), "MPI_Comm_rank(MPI_COMM_NULL, &r) failed: ");
    T_CONTAINS(bf_last_error(), "test_check.c:");
    T_CONTAINS(bf_last_error(), where);

    st = h5_bad();
    T_EQ_I(st, BF_EIO);
    T_CONTAINS(bf_last_error(), "opening the cache: H5Fopen(");
    T_CONTAINS(bf_last_error(), "unable to");
    T_CONTAINS(bf_last_error(), where);

    st = curl_bad();
    T_EQ_I(st, BF_ENET);
    T_CONTAINS(bf_last_error(), "rc failed: Unsupported protocol (curl 1)");

    st = sys_bad();
    T_EQ_I(st, BF_ENOTFOUND);
    T_CONTAINS(bf_last_error(), "reading '/x': No such file or directory");

    bf_mpi_finalize(&m);
    return bf_test_done("test_check");
}
