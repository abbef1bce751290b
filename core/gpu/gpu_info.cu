// gpu_info.cu - see gpu_info.h. Never fails: a machine without a GPU reports
// device_count 0 and the CUDA error text as the reason.
#include "core/gpu/gpu_info.h"

#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>
#ifdef BF_HAVE_CUDNN
#include <cudnn.h>
#endif
#ifdef BF_HAVE_NCCL
#include <nccl.h>
#endif

extern "C" void bf_gpu_query(bf_gpu_info *info)
{
    memset(info, 0, sizeof *info);
    cudaRuntimeGetVersion(&info->runtime_version);
    if (cudaDriverGetVersion(&info->driver_version) != cudaSuccess)
        info->driver_version = 0;
#ifdef BF_HAVE_CUDNN
    info->cudnn_version = (int)cudnnGetVersion();
#endif
#ifdef BF_HAVE_NCCL
    int v = 0;
    if (ncclGetVersion(&v) == ncclSuccess)
        info->nccl_version = v;
#endif
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        info->device_count = 0;
        snprintf(info->device0, sizeof info->device0, "no usable GPU: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return;
    }
    info->device_count = n;
    cudaDeviceProp p;
    if (n > 0 && cudaGetDeviceProperties(&p, 0) == cudaSuccess)
        snprintf(info->device0, sizeof info->device0, "%s", p.name);
}
