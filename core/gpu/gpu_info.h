/* gpu_info.h - versions of the CUDA stack barforge was built with, for
 * `barforge version`, and whether a usable GPU is present (GPU tests skip
 * cleanly, with this reason, when none is). Callable from C. */
#ifndef BF_GPU_INFO_H
#define BF_GPU_INFO_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bf_gpu_info {
    int runtime_version;   /* e.g. 13000 */
    int driver_version;    /* 0 when no driver is installed */
    int cudnn_version;     /* 0 when not built with cuDNN */
    int nccl_version;      /* 0 when not built with NCCL */
    int device_count;      /* 0 when no usable GPU */
    char device0[128];     /* name of device 0, or the reason there is none */
} bf_gpu_info;

void bf_gpu_query(bf_gpu_info *info);

#ifdef __cplusplus
}
#endif
#endif
