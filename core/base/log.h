/* log.h - rank-prefixed, levelled logging and progress reporting.
 *
 * Lines go to stderr as "[LEVEL rank R/N] message" or, with --log-json, as one
 * JSON object per line {"ts":..., "level":..., "rank":..., "msg":...}.
 * bf_log0 prints from rank 0 only (summaries). Progress draws a bar when
 * stderr is a TTY and prints a plain line at most every few seconds otherwise
 * (Slurm logs).
 */
#ifndef BF_LOG_H
#define BF_LOG_H

#include <stdint.h>

typedef enum bf_log_level {
    BF_LOG_DEBUG = 0,
    BF_LOG_INFO,
    BF_LOG_WARN,
    BF_LOG_ERROR,
    BF_LOG_QUIET,
} bf_log_level;

/* parse "debug|info|warn|error|quiet"; returns -1 when unknown */
int bf_log_level_parse(const char *s);
void bf_log_configure(bf_log_level level, int json);
bf_log_level bf_log_get_level(void);
int bf_log_is_json(void);

void bf_log(bf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bf_log0(bf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define BF_DEBUG(...) bf_log(BF_LOG_DEBUG, __VA_ARGS__)
#define BF_INFO(...) bf_log(BF_LOG_INFO, __VA_ARGS__)
#define BF_WARN(...) bf_log(BF_LOG_WARN, __VA_ARGS__)
#define BF_ERROR(...) bf_log(BF_LOG_ERROR, __VA_ARGS__)
#define BF_INFO0(...) bf_log0(BF_LOG_INFO, __VA_ARGS__)

typedef struct bf_progress {
    char what[64];
    int64_t total, done;
    double t_start, t_last;
    int tty, active;
} bf_progress;

void bf_progress_start(bf_progress *p, const char *what, int64_t total);
void bf_progress_update(bf_progress *p, int64_t done);
void bf_progress_end(bf_progress *p);

/* monotonic seconds */
double bf_now(void);

#endif
