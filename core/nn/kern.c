/* kern.c - picks the kernel variant once: the widest instruction set the CPU
 * supports (__builtin_cpu_supports), or the one BARFORGE_NN_ISA or
 * bf_kern_select names. Off x86-64 there is one generic build.
 */
#include "core/nn/kern.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
extern const bf_kern bf_kern_avx512, bf_kern_avx2, bf_kern_sse2;

static const bf_kern *supported(const char *name)
{
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
    if (!name)
        return avx512 ? &bf_kern_avx512 : avx2 ? &bf_kern_avx2 : &bf_kern_sse2;
    if (!strcmp(name, "avx512"))
        return avx512 ? &bf_kern_avx512 : NULL;
    if (!strcmp(name, "avx2"))
        return avx2 ? &bf_kern_avx2 : NULL;
    if (!strcmp(name, "sse2") || !strcmp(name, "generic"))
        return &bf_kern_sse2;
    return NULL;
}
#else
#define BF_KERN_TABLE bf_kern_generic
#define BF_KERN_NAME  "generic"
#include "core/nn/kern_body.h"

static const bf_kern *supported(const char *name)
{
    return !name || !strcmp(name, "generic") ? &bf_kern_generic : NULL;
}
#endif

static const bf_kern *g_kern;

const bf_kern *bf_kern_get(void)
{
    const bf_kern *k = __atomic_load_n(&g_kern, __ATOMIC_ACQUIRE);
    if (!k) {
        const char *env = getenv("BARFORGE_NN_ISA");
        k = env && *env ? supported(env) : NULL;
        if (!k)
            k = supported(NULL);
        __atomic_store_n(&g_kern, k, __ATOMIC_RELEASE);
    }
    return k;
}

int bf_kern_select(const char *name)
{
    const bf_kern *k = supported(name);
    if (!k)
        return -1;
    __atomic_store_n(&g_kern, k, __ATOMIC_RELEASE);
    return 0;
}
