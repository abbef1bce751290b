/* status.h - status codes and the error record every core/dist call uses.
 *
 * core/ and dist/ never exit and never print final errors: a failing call
 * records what happened with BF_FAIL (file:line, rank, host, message) and
 * returns a bf_status. jobs/ prints bf_last_error() once and maps the status
 * to an exit code with bf_exit_code(). The record is thread-local.
 */
#ifndef BF_STATUS_H
#define BF_STATUS_H

#include <stddef.h>

typedef enum bf_status {
    BF_OK = 0,
    BF_ERR,        /* generic failure */
    BF_EINVAL,     /* bad input or usage: exit code 2 */
    BF_ENOMEM,
    BF_EIO,        /* file system or HDF5 failure */
    BF_ENOTFOUND,  /* missing file, dataset, symbol */
    BF_ECORRUPT,   /* checksum or schema mismatch, truncated file */
    BF_ENET,       /* connection failure after retries */
    BF_EAUTH,      /* rejected credentials or subscription (HTTP 401/403) */
    BF_EHTTP,      /* other HTTP error */
    BF_EQUOTA,     /* provider quota exhausted */
    BF_ENODATA,    /* provider returned no data for the range */
    BF_EPREEMPTED, /* stopped by a preemption signal after committing state */
    BF_ENAN,       /* NaN or Inf in a loss or a tensor */
    BF_EMPI,
    BF_ECUDA,
    BF_STATUS_COUNT
} bf_status;

/* Exit codes: a contract with Slurm requeue and Kubernetes retry policies. */
enum {
    BF_EXIT_OK = 0,
    BF_EXIT_FAILURE = 1,
    BF_EXIT_USAGE = 2,
    /* stopped by SIGTERM/SIGINT/SIGUSR1 or a Spot notice after committing a
     * checkpoint; distinct from 128+signal codes a killed process gets. */
    BF_EXIT_PREEMPTED = 199,
};

const char *bf_status_name(bf_status st);
int bf_exit_code(bf_status st);

/* Record an error and return st. Formats "msg (file:line, rank R, host H)". */
bf_status bf_fail(bf_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define BF_FAIL(st, ...) bf_fail((st), __FILE__, __LINE__, __VA_ARGS__)

/* Prefix the current error message with context, keeping the status. */
bf_status bf_fail_context(bf_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *bf_last_error(void);
bf_status bf_last_status(void);
void bf_clear_error(void);

/* Process identity used in messages; set once by dist/ at start. */
void bf_set_proc_identity(int rank, int size);
int bf_proc_rank(void);
int bf_proc_size(void);
const char *bf_proc_host(void);

/* Propagate a failing status. */
#define BF_TRY(expr)                  \
    do {                              \
        bf_status bf_try_s_ = (expr); \
        if (bf_try_s_ != BF_OK)       \
            return bf_try_s_;         \
    } while (0)

/* System calls: expr < 0 (or NULL) sets errno. */
#define BF_CHECK_SYS(expr, ...)                                                       \
    do {                                                                              \
        if ((expr) < 0)                                                               \
            return bf_fail_errno(__FILE__, __LINE__, #expr, __VA_ARGS__);             \
    } while (0)
bf_status bf_fail_errno(const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Allocation: on failure return BF_ENOMEM naming the bytes asked for. */
#define BF_CHECK_ALLOC(ptr, bytes)                                                         \
    do {                                                                                   \
        if ((ptr) == NULL)                                                                 \
            return BF_FAIL(BF_ENOMEM, "out of memory allocating %zu bytes for %s",         \
                           (size_t)(bytes), #ptr);                                         \
    } while (0)

#endif
