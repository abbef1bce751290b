/* log.c - see log.h. */
#define _GNU_SOURCE
#include "core/base/log.h"

#include "core/base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bf_log_level g_level = BF_LOG_INFO;
static int g_json = 0;

static const char *const g_lvl[] = {"DEBUG", "INFO", "WARN", "ERROR", "QUIET"};

int bf_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "quiet"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void bf_log_configure(bf_log_level level, int json)
{
    g_level = level;
    g_json = json;
}
bf_log_level bf_log_get_level(void) { return g_level; }
int bf_log_is_json(void) { return g_json; }

double bf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void vlog(bf_log_level lvl, const char *fmt, va_list ap)
{
    if (lvl < g_level || lvl >= BF_LOG_QUIET)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (g_json) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char line[4200];
        FILE *m = fmemopen(line, sizeof line, "w");
        if (!m)
            return;
        fprintf(m, "{\"ts\":%.3f,\"level\":\"%s\",\"rank\":%d,\"size\":%d,\"host\":\"",
                (double)ts.tv_sec + 1e-9 * ts.tv_nsec, g_lvl[lvl], bf_proc_rank(), bf_proc_size());
        json_escape(m, bf_proc_host());
        fputs("\",\"msg\":\"", m);
        json_escape(m, msg);
        fputs("\"}\n", m);
        fclose(m);
        line[sizeof line - 1] = 0;
        fputs(line, stderr);
    } else {
        fprintf(stderr, "[%s rank %d/%d] %s\n", g_lvl[lvl], bf_proc_rank(), bf_proc_size(), msg);
    }
}

void bf_log(bf_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

void bf_log0(bf_log_level lvl, const char *fmt, ...)
{
    if (bf_proc_rank() != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap);
    va_end(ap);
}

#define BF_PROGRESS_PLAIN_EVERY_S 10.0

void bf_progress_start(bf_progress *p, const char *what, int64_t total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    p->t_start = p->t_last = bf_now();
    p->tty = isatty(STDERR_FILENO) && !g_json && g_level <= BF_LOG_INFO;
    p->active = bf_proc_rank() == 0 && g_level <= BF_LOG_INFO;
}

void bf_progress_update(bf_progress *p, int64_t done)
{
    p->done = done;
    if (!p->active)
        return;
    double t = bf_now();
    double el = t - p->t_start;
    double rate = el > 0 ? (double)done / el : 0.0;
    if (p->tty) {
        if (t - p->t_last < 0.1 && done < p->total)
            return;
        int width = 30, fill = p->total > 0 ? (int)(width * done / p->total) : 0;
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%-16s [%s] %lld/%lld %.1f/s %.0fs", p->what, bar, (long long)done,
                (long long)p->total, rate, el);
        fflush(stderr);
    } else {
        if (t - p->t_last < BF_PROGRESS_PLAIN_EVERY_S)
            return;
        bf_log(BF_LOG_INFO, "%s: %lld/%lld (%.1f/s, %.0fs elapsed)", p->what, (long long)done,
               (long long)p->total, rate, el);
    }
    p->t_last = t;
}

void bf_progress_end(bf_progress *p)
{
    if (p->active && p->tty) {
        p->t_last = 0;
        bf_progress_update(p, p->done);
        fputc('\n', stderr);
    }
    p->active = 0;
}
