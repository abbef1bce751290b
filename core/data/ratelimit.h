/* ratelimit.h - request pacing for network providers: a token bucket per
 * provider per process, and a daily request quota shared through a file.
 *
 * Sharing across N ranks: each process gets rate = provider_limit / n_ranks,
 * so N ranks together never exceed the provider's limit, whatever the job's
 * layout, with no communication. A bucket of capacity `burst` admits at most
 * burst + rate*T requests in any window of T seconds; N ranks together at most
 * N*burst + limit*T. Capacity 1 (the default) keeps the excess to one request
 * per rank.
 *
 * The daily quota (Alpha Vantage free keys: 25 requests a day) lives in
 * <state_dir>/.quota/<name>-<day>, one byte appended per request under an
 * exclusive flock(2), so every process on the machine (or on a shared file
 * system with working flock) counts against the same total. Without a
 * state_dir the count is per process only.
 */
#ifndef BF_RATELIMIT_H
#define BF_RATELIMIT_H

#include "core/base/status.h"

#include <pthread.h>

typedef struct bf_ratelimit {
    double rate;   /* requests per second for this process; <= 0: unlimited */
    double burst;  /* bucket capacity (requests) */
    double tokens; /* may go negative: reservations not yet due */
    double t_last; /* bf_now() of the last refill */
    pthread_mutex_t mu;
} bf_ratelimit;

/* total_per_s: the provider's limit for the whole job; n_ranks < 1 reads as 1;
 * burst < 1 reads as 1. The bucket starts full. */
void bf_ratelimit_init(bf_ratelimit *rl, double total_per_s, int n_ranks, double burst);
void bf_ratelimit_destroy(bf_ratelimit *rl);
/* Take one token at time now (bf_now() seconds); returns how long the caller
 * must wait before sending. Pure arithmetic, for tests. */
double bf_ratelimit_reserve(bf_ratelimit *rl, double now);
/* Reserve and sleep until the request may go; returns the seconds slept. */
double bf_ratelimit_acquire(bf_ratelimit *rl);

/* Sleep for s seconds (resumes after signals). */
void bf_sleep_s(double s);

typedef struct bf_quota {
    char dir[512];    /* <state_dir>/.quota, or "" for a per-process count */
    char name[32];    /* e.g. "alphavantage" */
    int daily_limit;  /* <= 0: unlimited */
    char mem_day[16]; /* per-process fallback */
    int mem_used;
} bf_quota;

/* state_dir may be NULL (per-process count, documented above). */
bf_status bf_quota_init(bf_quota *q, const char *state_dir, const char *name, int daily_limit);
/* Count one request for day ("YYYY-MM-DD"). BF_EQUOTA (message names the
 * limit, the day and the file) when the day's count already reached the
 * limit; *used (may be NULL) gets the count including this request. */
bf_status bf_quota_take(bf_quota *q, const char *day, int *used);
/* Requests counted so far for day. */
bf_status bf_quota_used(const bf_quota *q, const char *day, int *used);
/* Mark the day as used up (the provider said so), so other ranks stop too. */
bf_status bf_quota_exhaust(bf_quota *q, const char *day);

#endif
