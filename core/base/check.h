/* check.h - check macros for library calls: on failure they record the
 * call, the library's own error text, file:line, rank and host (BF_FAIL) and
 * RETURN a bf_status from the enclosing function. The CUDA-side macros are
 * in core/gpu/check_cuda.h; system calls and allocations in status.h
 * (BF_CHECK_SYS, BF_CHECK_ALLOC).
 *
 *   BF_CHECK_MPI(MPI_Allreduce(...));          MPI return code
 *   BF_CHECK_H5(H5Dwrite(...), "writing X");   HDF5 herr_t/hid_t < 0
 *   BF_CHECK_CURL(curl_easy_setopt(...));      CURLcode
 */
#ifndef BF_CHECK_H
#define BF_CHECK_H

#include "core/base/status.h"

#define BF_CHECK_MPI(call)                                                                \
    do {                                                                                  \
        int bf_mpi_rc_ = (call);                                                          \
        if (bf_mpi_rc_ != 0 /* MPI_SUCCESS */)                                            \
            return bf_fail_mpi(__FILE__, __LINE__, #call, bf_mpi_rc_);                    \
    } while (0)

#define BF_CHECK_H5(call, what)                                                           \
    do {                                                                                  \
        if ((long long)(call) < 0)                                                        \
            return bf_fail_h5(__FILE__, __LINE__, #call, (what));                         \
    } while (0)

#define BF_CHECK_CURL(call)                                                               \
    do {                                                                                  \
        int bf_curl_rc_ = (int)(call);                                                    \
        if (bf_curl_rc_ != 0 /* CURLE_OK */)                                              \
            return bf_fail_curl(__FILE__, __LINE__, #call, bf_curl_rc_);                  \
    } while (0)

/* The failure recorders behind the macros (check.c): each formats the
 * library's message and returns BF_EMPI, BF_EIO or BF_ENET. */
bf_status bf_fail_mpi(const char *file, int line, const char *call, int rc);
bf_status bf_fail_h5(const char *file, int line, const char *call, const char *what);
bf_status bf_fail_curl(const char *file, int line, const char *call, int rc);

#endif
