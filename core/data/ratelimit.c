/* ratelimit.c - token bucket and file-backed daily quota (see ratelimit.h).
 *
 * The bucket works by reservation: a caller takes a token even when none is
 * left (tokens goes negative) and sleeps until its token would have been
 * refilled. Concurrent callers in one process therefore queue in arrival
 * order without holding the lock while they sleep.
 */
#define _GNU_SOURCE
#include "core/data/ratelimit.h"

#include "core/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void bf_ratelimit_init(bf_ratelimit *rl, double total_per_s, int n_ranks, double burst)
{
    if (n_ranks < 1)
        n_ranks = 1;
    if (burst < 1)
        burst = 1;
    rl->rate = total_per_s > 0 ? total_per_s / n_ranks : 0;
    rl->burst = burst;
    rl->tokens = burst;
    rl->t_last = bf_now();
    pthread_mutex_init(&rl->mu, NULL);
}

void bf_ratelimit_destroy(bf_ratelimit *rl)
{
    pthread_mutex_destroy(&rl->mu);
}

double bf_ratelimit_reserve(bf_ratelimit *rl, double now)
{
    if (rl->rate <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    if (now > rl->t_last) {
        rl->tokens += (now - rl->t_last) * rl->rate;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->t_last = now;
    }
    rl->tokens -= 1;
    double wait = rl->tokens >= 0 ? 0 : -rl->tokens / rl->rate;
    pthread_mutex_unlock(&rl->mu);
    return wait;
}

double bf_ratelimit_acquire(bf_ratelimit *rl)
{
    double wait = bf_ratelimit_reserve(rl, bf_now());
    if (wait > 0)
        bf_sleep_s(wait);
    return wait;
}

void bf_sleep_s(double s)
{
    if (!(s > 0))
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------ */

static int valid_day(const char *day)
{
    if (!day || strlen(day) != 10)
        return 0;
    for (int i = 0; i < 10; i++) {
        int dash = i == 4 || i == 7;
        if (dash ? day[i] != '-' : (day[i] < '0' || day[i] > '9'))
            return 0;
    }
    return 1;
}

/* mkdir -p: the state directory usually lives under a cache not made yet */
static bf_status mkdir_p(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return BF_FAIL(BF_EIO, "cannot create quota directory '%s': %s", path,
                           strerror(errno));
        *p = c;
        if (!c)
            return BF_OK;
    }
}

bf_status bf_quota_init(bf_quota *q, const char *state_dir, const char *name, int daily_limit)
{
    memset(q, 0, sizeof *q);
    if (!name || !*name || strlen(name) >= sizeof q->name)
        return BF_FAIL(BF_EINVAL, "quota name '%s' is empty or too long", name ? name : "(null)");
    snprintf(q->name, sizeof q->name, "%s", name);
    q->daily_limit = daily_limit;
    if (state_dir && *state_dir) {
        int n = snprintf(q->dir, sizeof q->dir, "%s/.quota", state_dir);
        if (n < 0 || (size_t)n >= sizeof q->dir)
            return BF_FAIL(BF_EINVAL, "state directory path too long (%zu characters): '%s'",
                           strlen(state_dir), state_dir);
        BF_TRY(mkdir_p(q->dir));
    }
    return BF_OK;
}

static bf_status quota_path(const bf_quota *q, const char *day, char *path, size_t n)
{
    if (!valid_day(day))
        return BF_FAIL(BF_EINVAL, "quota day '%s' is not YYYY-MM-DD", day ? day : "(null)");
    int k = snprintf(path, n, "%s/%s-%s", q->dir, q->name, day);
    if (k < 0 || (size_t)k >= n)
        return BF_FAIL(BF_EINVAL, "quota file path too long under '%s'", q->dir);
    return BF_OK;
}

/* Open the day's file locked; *fd < 0 means the per-process fallback. */
static bf_status quota_lock(const bf_quota *q, const char *day, int *fd, char *path, size_t n,
                            long *used)
{
    *fd = -1;
    BF_TRY(quota_path(q, day, path, n));
    if (!q->dir[0]) {
        *used = strcmp(q->mem_day, day) == 0 ? q->mem_used : 0;
        return BF_OK;
    }
    int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return BF_FAIL(BF_EIO, "cannot open quota file '%s': %s", path, strerror(errno));
    while (flock(f, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(f);
            return BF_FAIL(BF_EIO, "cannot lock quota file '%s': %s", path, strerror(e));
        }
    }
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return BF_FAIL(BF_EIO, "cannot stat quota file '%s': %s", path, strerror(e));
    }
    *used = (long)sb.st_size;
    *fd = f;
    return BF_OK;
}

static bf_status quota_append(bf_quota *q, const char *day, int fd, const char *path, long count)
{
    if (fd < 0) {
        if (strcmp(q->mem_day, day) != 0) {
            snprintf(q->mem_day, sizeof q->mem_day, "%s", day);
            q->mem_used = 0;
        }
        q->mem_used += (int)count;
        return BF_OK;
    }
    char buf[256];
    memset(buf, '.', sizeof buf);
    while (count > 0) {
        size_t k = count > (long)sizeof buf ? sizeof buf : (size_t)count;
        ssize_t w = write(fd, buf, k);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return BF_FAIL(BF_EIO, "cannot append to quota file '%s': %s", path,
                           w < 0 ? strerror(errno) : "short write");
        count -= (long)w;
    }
    return BF_OK;
}

bf_status bf_quota_take(bf_quota *q, const char *day, int *used)
{
    char path[600];
    int fd;
    long n;
    BF_TRY(quota_lock(q, day, &fd, path, sizeof path, &n));
    bf_status st = BF_OK;
    if (q->daily_limit > 0 && n >= q->daily_limit) {
        st = BF_FAIL(BF_EQUOTA,
                     "%s daily quota of %d requests is used up for %s (%ld counted%s%s); it "
                     "resumes the next day, or raise the limit for a premium key",
                     q->name, q->daily_limit, day, n, fd >= 0 ? " in " : " by this process",
                     fd >= 0 ? path : "");
    } else {
        st = quota_append(q, day, fd, path, 1);
        n++;
    }
    if (fd >= 0)
        close(fd); /* releases the lock */
    if (used)
        *used = (int)n;
    return st;
}

bf_status bf_quota_used(const bf_quota *q, const char *day, int *used)
{
    char path[600];
    BF_TRY(quota_path(q, day, path, sizeof path));
    if (!q->dir[0]) {
        *used = strcmp(q->mem_day, day) == 0 ? q->mem_used : 0;
        return BF_OK;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            *used = 0;
            return BF_OK;
        }
        return BF_FAIL(BF_EIO, "cannot stat quota file '%s': %s", path, strerror(errno));
    }
    *used = (int)sb.st_size;
    return BF_OK;
}

bf_status bf_quota_exhaust(bf_quota *q, const char *day)
{
    if (q->daily_limit <= 0)
        return BF_OK;
    char path[600];
    int fd;
    long n;
    BF_TRY(quota_lock(q, day, &fd, path, sizeof path, &n));
    bf_status st = n < q->daily_limit ? quota_append(q, day, fd, path, q->daily_limit - n) : BF_OK;
    if (fd >= 0)
        close(fd);
    return st;
}
