/* check.c - failure recorders of check.h: turn each library's error code
 * into one message. HDF5's message is the innermost entry of its error
 * stack (the most specific reason). */
#include "core/base/check.h"

#include <curl/curl.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

bf_status bf_fail_mpi(const char *file, int line, const char *call, int rc)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return bf_fail(BF_EMPI, file, line, "%s failed: %s", call, msg);
}

static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    char *out = data;
    if (e->desc && e->desc[0])
        snprintf(out, 256, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
    return 0;
}

bf_status bf_fail_h5(const char *file, int line, const char *call, const char *what)
{
    char detail[256] = "no HDF5 error stack";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk, detail);
    H5Eclear2(H5E_DEFAULT);
    return bf_fail(BF_EIO, file, line, "%s: %s failed: %s", what ? what : "HDF5", call, detail);
}

bf_status bf_fail_curl(const char *file, int line, const char *call, int rc)
{
    return bf_fail(BF_ENET, file, line, "%s failed: %s (curl %d)", call,
                   curl_easy_strerror((CURLcode)rc), rc);
}
