/* version.c - `barforge version [--json]`: barforge's version and git
 * revision and the version of every linked library. Tests and tools parse
 * the JSON form. Needs no MPI launch (MPI_Get_library_version works before
 * MPI_Init). The CUDA stack is probed at run time (gpu_probe.c): the binary
 * does not link it. */
#include "jobs/job.h"

#include "bf_build_info.h"
#include "core/data/curl_lazy.h"
#include "core/gpu/gpu_info.h"
#include "core/nn/model.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <hdf5.h>
#include <mpi.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fmt_cuda(char *buf, size_t n, int v)
{
    if (v <= 0)
        snprintf(buf, n, "none");
    else
        snprintf(buf, n, "%d.%d", v / 1000, (v % 1000) / 10);
}

int bf_job_version(int argc, char **argv)
{
    int json = 0;
    bf_opt opts[] = {
        {.name = "json", .type = BF_OPT_FLAG, .def = "0", .help = "print one JSON object", .dst = &json},
    };
    bf_job j;
    int rc = bf_job_start_nompi(&j, "version", "Print the versions of barforge and of every linked library.",
                                opts, 1, argc, argv);
    if (rc >= 0)
        return rc;

    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi, &len);
    char *nl = strchr(mpi, '\n');
    if (nl)
        *nl = 0;
    char *comma = strchr(mpi, ',');
    if (comma)
        *comma = 0;
    unsigned h5maj, h5min, h5rel;
    H5get_libversion(&h5maj, &h5min, &h5rel);
    char h5[32];
    snprintf(h5, sizeof h5, "%u.%u.%u", h5maj, h5min, h5rel);
#ifdef H5_HAVE_PARALLEL
    const int h5par = 1;
#else
    const int h5par = 0;
#endif
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const char *curl = cv ? cv->version : bf_curl_load_error();
    const char *ssl = OpenSSL_version(OPENSSL_VERSION);
    char blas[160];
    const char *blas_err = bf_nn_blas_error();
    snprintf(blas, sizeof blas, "%s", blas_err ? blas_err : openblas_get_config());
    bf_gpu_info g;
#ifdef BF_CUDA_BUILT
    bf_gpu_probe(&g); /* loads the CUDA libraries now (jobs/gpu_probe.c) */
#else
    memset(&g, 0, sizeof g);
#endif
    char rt[16], drv[16], dnn[16], nccl[16];
    fmt_cuda(rt, sizeof rt, g.runtime_version);
    fmt_cuda(drv, sizeof drv, g.driver_version);
    if (g.cudnn_version > 0)
        snprintf(dnn, sizeof dnn, "%d.%d.%d", g.cudnn_version / 10000, (g.cudnn_version / 100) % 100,
                 g.cudnn_version % 100);
    else
        snprintf(dnn, sizeof dnn, "none");
    if (g.nccl_version > 0)
        snprintf(nccl, sizeof nccl, "%d.%d.%d", g.nccl_version / 10000, (g.nccl_version / 100) % 100,
                 g.nccl_version % 100);
    else
        snprintf(nccl, sizeof nccl, "none");
#ifdef BF_CUDA_BUILT
    const int cuda_built = 1;
#else
    const int cuda_built = 0;
#endif

    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "barforge", BF_VERSION);
        cJSON_AddStringToObject(o, "git_revision", BF_GIT_REV);
        cJSON_AddStringToObject(o, "build_type", BF_BUILD_TYPE);
        cJSON_AddStringToObject(o, "mpi", mpi);
        cJSON *h = cJSON_AddObjectToObject(o, "hdf5");
        cJSON_AddStringToObject(h, "version", h5);
        cJSON_AddBoolToObject(h, "parallel", h5par);
        cJSON_AddStringToObject(o, "libcurl", curl);
        cJSON_AddStringToObject(o, "cjson", cJSON_Version());
        cJSON_AddStringToObject(o, "openssl", ssl);
        cJSON_AddStringToObject(o, "openblas", blas);
        cJSON *c = cJSON_AddObjectToObject(o, "cuda");
        cJSON_AddBoolToObject(c, "built", cuda_built);
        cJSON_AddStringToObject(c, "runtime", cuda_built ? rt : "none");
        cJSON_AddStringToObject(c, "driver", drv);
        cJSON_AddStringToObject(c, "cudnn", dnn);
        cJSON_AddStringToObject(c, "nccl", nccl);
        cJSON_AddNumberToObject(c, "devices", g.device_count);
        cJSON_AddStringToObject(c, "device0", g.device0);
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("barforge %s (git %s, %s)\n", BF_VERSION, BF_GIT_REV, BF_BUILD_TYPE);
        printf("  MPI       %s\n", mpi);
        printf("  HDF5      %s (parallel: %s)\n", h5, h5par ? "yes" : "no");
        printf("  libcurl   %s\n", curl);
        printf("  cJSON     %s\n", cJSON_Version());
        printf("  OpenSSL   %s\n", ssl);
        printf("  OpenBLAS  %s\n", blas);
        if (cuda_built && g.device_count)
            printf("  CUDA      runtime %s, driver %s, cuDNN %s, NCCL %s, %d device(s): %s\n", rt,
                   drv, dnn, nccl, g.device_count, g.device0);
        else if (cuda_built)
            printf("  CUDA      runtime %s, driver %s, cuDNN %s, NCCL %s, 0 devices (%s)\n", rt, drv,
                   dnn, nccl, g.device0);
        else
            printf("  CUDA      not built (configure found no nvcc)\n");
    }
    return bf_job_finish(&j, BF_OK);
}
