/* check_cuda.h - check macros for CUDA runtime, cuBLAS, cuDNN and NCCL
 * calls: on failure they record the call, the library's error name and
 * text, file:line, rank and host, and return BF_ECUDA (see check.h for MPI,
 * HDF5 and curl). Usable from C and CUDA sources. */
#ifndef BF_CHECK_CUDA_H
#define BF_CHECK_CUDA_H

#include "core/base/status.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#ifdef BF_HAVE_CUDNN
#include <cudnn.h>
#endif
#ifdef BF_HAVE_NCCL
#include <nccl.h>
#endif

#define BF_CHECK_CUDA(call)                                                                \
    do {                                                                                   \
        cudaError_t bf_cu_rc_ = (call);                                                    \
        if (bf_cu_rc_ != cudaSuccess)                                                      \
            return bf_fail(BF_ECUDA, __FILE__, __LINE__, "%s failed: %s (%s)", #call,      \
                           cudaGetErrorString(bf_cu_rc_), cudaGetErrorName(bf_cu_rc_));    \
    } while (0)

#define BF_CHECK_CUBLAS(call)                                                              \
    do {                                                                                   \
        cublasStatus_t bf_cb_rc_ = (call);                                                 \
        if (bf_cb_rc_ != CUBLAS_STATUS_SUCCESS)                                            \
            return bf_fail(BF_ECUDA, __FILE__, __LINE__, "%s failed: %s (%s)", #call,      \
                           cublasGetStatusString(bf_cb_rc_), cublasGetStatusName(bf_cb_rc_)); \
    } while (0)

#ifdef BF_HAVE_CUDNN
#define BF_CHECK_CUDNN(call)                                                               \
    do {                                                                                   \
        cudnnStatus_t bf_dn_rc_ = (call);                                                  \
        if (bf_dn_rc_ != CUDNN_STATUS_SUCCESS)                                             \
            return bf_fail(BF_ECUDA, __FILE__, __LINE__, "%s failed: %s", #call,           \
                           cudnnGetErrorString(bf_dn_rc_));                                \
    } while (0)
#endif

#ifdef BF_HAVE_NCCL
#define BF_CHECK_NCCL(call)                                                                \
    do {                                                                                   \
        ncclResult_t bf_nc_rc_ = (call);                                                   \
        if (bf_nc_rc_ != ncclSuccess)                                                      \
            return bf_fail(BF_ECUDA, __FILE__, __LINE__, "%s failed: %s", #call,           \
                           ncclGetErrorString(bf_nc_rc_));                                 \
    } while (0)
#endif

#endif
