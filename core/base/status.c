/* status.c - thread-local error record (see status.h). */
#define _GNU_SOURCE
#include "core/base/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Thread_local char g_msg[2048];
static _Thread_local bf_status g_status;
static int g_rank = 0, g_size = 1;
static char g_host[64];

static const char *const g_names[BF_STATUS_COUNT] = {
    [BF_OK] = "ok", [BF_ERR] = "error", [BF_EINVAL] = "invalid input",
    [BF_ENOMEM] = "out of memory", [BF_EIO] = "I/O error", [BF_ENOTFOUND] = "not found",
    [BF_ECORRUPT] = "corrupt data", [BF_ENET] = "network error",
    [BF_EAUTH] = "authentication or subscription error", [BF_EHTTP] = "HTTP error",
    [BF_EQUOTA] = "quota exhausted", [BF_ENODATA] = "no data",
    [BF_EPREEMPTED] = "preempted", [BF_ENAN] = "non-finite value", [BF_EMPI] = "MPI error",
    [BF_ECUDA] = "CUDA error",
};

const char *bf_status_name(bf_status st)
{
    return (st >= 0 && st < BF_STATUS_COUNT && g_names[st]) ? g_names[st] : "unknown status";
}

int bf_exit_code(bf_status st)
{
    switch (st) {
    case BF_OK: return BF_EXIT_OK;
    case BF_EINVAL: return BF_EXIT_USAGE;
    case BF_EPREEMPTED: return BF_EXIT_PREEMPTED;
    default: return BF_EXIT_FAILURE;
    }
}

void bf_set_proc_identity(int rank, int size)
{
    g_rank = rank;
    g_size = size;
}
int bf_proc_rank(void) { return g_rank; }
int bf_proc_size(void) { return g_size; }
const char *bf_proc_host(void)
{
    if (!g_host[0] && gethostname(g_host, sizeof g_host - 1) != 0)
        snprintf(g_host, sizeof g_host, "unknown-host");
    return g_host;
}

static bf_status vfail(bf_status st, const char *file, int line, const char *errstr,
                       const char *fmt, va_list ap)
{
    char body[1600];
    vsnprintf(body, sizeof body, fmt, ap);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (errstr)
        snprintf(g_msg, sizeof g_msg, "%s: %s (%s:%d, rank %d, host %s)", body, errstr, base,
                 line, g_rank, bf_proc_host());
    else
        snprintf(g_msg, sizeof g_msg, "%s (%s:%d, rank %d, host %s)", body, base, line, g_rank,
                 bf_proc_host());
    g_status = st;
    return st;
}

bf_status bf_fail(bf_status st, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(st, file, line, NULL, fmt, ap);
    va_end(ap);
    return st;
}

bf_status bf_fail_errno(const char *file, int line, const char *what, const char *fmt, ...)
{
    int e = errno;
    (void)what;
    va_list ap;
    va_start(ap, fmt);
    bf_status st = (e == ENOENT) ? BF_ENOTFOUND : (e == ENOMEM ? BF_ENOMEM : BF_EIO);
    vfail(st, file, line, strerror(e), fmt, ap);
    va_end(ap);
    return st;
}

bf_status bf_fail_context(bf_status st, const char *fmt, ...)
{
    char ctx[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t n = strlen(ctx);
    if (n + 2 < sizeof g_msg) {
        memcpy(g_msg, ctx, n);
        memcpy(g_msg + n, ": ", 2);
        size_t rest = sizeof g_msg - n - 3;
        size_t ol = strnlen(old, rest);
        memcpy(g_msg + n + 2, old, ol);
        g_msg[n + 2 + ol] = 0;
    }
    g_status = st;
    return st;
}

const char *bf_last_error(void) { return g_msg[0] ? g_msg : bf_status_name(g_status); }
bf_status bf_last_status(void) { return g_status; }
void bf_clear_error(void)
{
    g_msg[0] = 0;
    g_status = BF_OK;
}
