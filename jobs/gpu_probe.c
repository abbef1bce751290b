/* gpu_probe.c - the CUDA stack's versions and devices for `barforge
 * version`, loaded at run time (dlopen) instead of linked.
 *
 * No CPU job needs CUDA, and linking the CUDA runtime, cuDNN and NCCL made
 * every process load them (about 2 ms of a 0.13 s build) and refuse to start
 * on a node without them. The libraries are looked for by the paths the
 * build found (BF_CUDA_LIBS, ':'-separated) and then by their SONAMEs; what
 * is missing is reported as missing. The GPU tests and kernels still link
 * the CUDA libraries (core/gpu, barforge_cuda).
 */
#define _GNU_SOURCE
#include "jobs/job.h"

#include "core/gpu/gpu_info.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef BF_CUDA_LIBS
#define BF_CUDA_LIBS ""
#endif

/* the first of the build's paths whose file name starts with `stem`, then
 * the SONAMEs in `names` (NULL-terminated) */
static void *open_lib(const char *stem, const char *const *names)
{
    char paths[4096];
    snprintf(paths, sizeof paths, "%s", BF_CUDA_LIBS);
    for (char *save = NULL, *p = strtok_r(paths, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        const char *base = strrchr(p, '/');
        base = base ? base + 1 : p;
        if (strncmp(base, stem, strlen(stem)) == 0) {
            void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
            if (h)
                return h;
        }
    }
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
    }
    return NULL;
}

typedef int (*int_fn)(int *);
typedef const char *(*errstr_fn)(int);
typedef int (*props_fn)(void *, int);
typedef size_t (*cudnn_ver_fn)(void);

void bf_gpu_probe(bf_gpu_info *info)
{
    memset(info, 0, sizeof *info);
    static const char *const rt_names[] = {"libcudart.so.13", "libcudart.so.12",
                                           "libcudart.so.11.0", "libcudart.so", NULL};
    static const char *const dnn_names[] = {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so", NULL};
    static const char *const nccl_names[] = {"libnccl.so.2", "libnccl.so", NULL};
    void *rt = open_lib("libcudart", rt_names);
    if (!rt) {
        snprintf(info->device0, sizeof info->device0, "no usable GPU: the CUDA runtime "
                 "(libcudart) is not installed");
        return;
    }
    int_fn rtv = (int_fn)dlsym(rt, "cudaRuntimeGetVersion");
    int_fn drv = (int_fn)dlsym(rt, "cudaDriverGetVersion");
    int_fn count = (int_fn)dlsym(rt, "cudaGetDeviceCount");
    errstr_fn err = (errstr_fn)dlsym(rt, "cudaGetErrorString");
    props_fn props = (props_fn)dlsym(rt, "cudaGetDeviceProperties_v2");
    if (!props)
        props = (props_fn)dlsym(rt, "cudaGetDeviceProperties");
    if (rtv)
        rtv(&info->runtime_version);
    if (!drv || drv(&info->driver_version) != 0)
        info->driver_version = 0;
    void *dnn = open_lib("libcudnn", dnn_names);
    if (dnn) {
        cudnn_ver_fn v = (cudnn_ver_fn)dlsym(dnn, "cudnnGetVersion");
        info->cudnn_version = v ? (int)v() : 0;
    }
    void *nccl = open_lib("libnccl", nccl_names);
    if (nccl) {
        int_fn v = (int_fn)dlsym(nccl, "ncclGetVersion");
        int ver = 0;
        if (v && v(&ver) == 0)
            info->nccl_version = ver;
    }
    int n = 0, e = count ? count(&n) : -1;
    if (e != 0) {
        snprintf(info->device0, sizeof info->device0, "no usable GPU: %s",
                 err && e > 0 ? err(e) : "cudaGetDeviceCount not found");
        return;
    }
    info->device_count = n;
    /* cudaDeviceProp begins with char name[256]; the rest differs between
     * CUDA versions, so it goes into room to spare */
    static _Alignas(64) char prop[16384];
    if (n > 0 && props && props(prop, 0) == 0) {
        size_t len = strnlen(prop, sizeof info->device0 - 1);
        memcpy(info->device0, prop, len);
        info->device0[len] = 0;
    }
}
