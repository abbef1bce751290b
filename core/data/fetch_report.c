/* fetch_report.c - the fetch summary as a table and as JSON.
 *
 * JSON layout (schema "barforge.fetch_summary/1", also in docs/formats.md, "## Bar cache"):
 *   interval, interval_s, start, end (RFC 3339, end exclusive), extended_hours,
 *   providers [..], cache_dir, refresh, ranks, symbols, failed, bars, gaps,
 *   fetched_bars, requests, from_cache, elapsed_s, fetched_bars_per_s,
 *   peak_rss_mib_max_rank, cpu_s (user + system, summed over ranks),
 *   by_provider {name: {symbols, bars, gaps, from_cache}},
 *   failed_symbols [{symbol, error}],
 *   per_symbol [{symbol, provider (null when failed), source ("cache",
 *               "fetched" or "failed"), bars, expected, gaps, fetched,
 *               requests, rank, status, error (when failed)}]
 */
#include "core/base/json.h"
#include "core/base/timeutil.h"
#include "core/data/fetch.h"

#include <stdio.h>
#include <string.h>

static void fmt_int(char *buf, size_t n, int64_t v)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)(v < 0 ? -v : v));
    size_t len = strlen(raw), k = 0;
    if (v < 0 && k + 1 < n)
        buf[k++] = '-';
    for (size_t i = 0; i < len && k + 1 < n; i++) {
        buf[k++] = raw[i];
        if ((len - i - 1) % 3 == 0 && i + 1 < len && k + 1 < n)
            buf[k++] = ',';
    }
    buf[k] = 0;
}

static const char *source_of(const bf_fetch_sym *y)
{
    if (y->status != BF_OK || y->provider < 0)
        return "failed";
    return y->from_cache ? "cache" : "fetched";
}

/* the symbols provider p delivered without error, and their bars and gaps */
typedef struct prov_totals {
    int symbols, from_cache;
    int64_t bars, gaps;
} prov_totals;

static prov_totals totals_of(const bf_fetch_summary *s, int p)
{
    prov_totals t = {0, 0, 0, 0};
    for (int i = 0; i < s->n_symbols; i++)
        if (s->sym[i].provider == p && s->sym[i].status == BF_OK) {
            t.symbols++;
            t.from_cache += s->sym[i].from_cache;
            t.bars += s->sym[i].bars;
            t.gaps += s->sym[i].gaps;
        }
    return t;
}

void bf_fetch_print(const bf_fetch_opts *o, const bf_fetch_summary *s, FILE *f, int max_rows)
{
    char d0[16], d1[16], a[32], b[32], c[32], e[32];
    bf_date_format(o->start, d0, sizeof d0);
    bf_date_format(o->end - 1, d1, sizeof d1);
    fprintf(f, "fetch summary: %d symbols, %s bars (%s), %s .. %s, %d rank(s), %.2f s\n",
            s->n_symbols, bf_interval_name(o->interval_s),
            o->extended_hours ? "extended hours" : "regular session", d0, d1, s->n_ranks,
            s->elapsed_s);
    if (s->n_symbols <= max_rows) {
        fprintf(f, "  %-15s %-13s %-8s %10s %10s %7s %10s  %s\n", "symbol", "provider", "source",
                "bars", "expected", "gaps", "fetched", "status");
        for (int i = 0; i < s->n_symbols; i++) {
            const bf_fetch_sym *y = &s->sym[i];
            fprintf(f, "  %-15s %-13s %-8s %10lld %10lld %7lld %10lld  %s\n", y->symbol,
                    y->provider >= 0 ? o->providers[y->provider] : "-", source_of(y),
                    (long long)y->bars, (long long)y->expected, (long long)y->gaps,
                    (long long)y->fetched, y->status == BF_OK ? "ok" : bf_status_name(y->status));
        }
    }
    fprintf(f, "  %-13s %8s %11s %14s %10s\n", "provider", "symbols", "from cache", "bars", "gaps");
    for (int p = 0; p < o->n_providers; p++) {
        prov_totals t = totals_of(s, p);
        fmt_int(a, sizeof a, t.bars);
        fmt_int(b, sizeof b, t.gaps);
        fprintf(f, "  %-13s %8d %11d %14s %10s\n", o->providers[p], t.symbols, t.from_cache, a, b);
    }
    fprintf(f, "  %-13s %8d\n", "failed", s->n_failed);
    fmt_int(a, sizeof a, s->bars);
    fmt_int(b, sizeof b, s->gaps);
    fprintf(f, "  %-13s %8d %11lld %14s %10s\n", "total", s->n_symbols, (long long)s->from_cache,
            a, b);
    fmt_int(c, sizeof c, s->fetched);
    fmt_int(e, sizeof e, (int64_t)(s->elapsed_s > 0 ? (double)s->fetched / s->elapsed_s : 0));
    fprintf(f, "  new bars %s in %.2f s (%s bars/s), %lld request(s), peak memory %.1f MiB on the largest rank\n",
            c, s->elapsed_s, e, (long long)s->requests, s->peak_rss_mb);
    if (s->n_failed) {
        fprintf(f, "failed symbols (%d):\n", s->n_failed);
        int shown = 0;
        for (int i = 0; i < s->n_symbols; i++)
            if (s->sym[i].status != BF_OK) {
                if (shown++ == 50) {
                    fprintf(f, "  ... and %d more (all in --summary-json)\n", s->n_failed - 50);
                    break;
                }
                fprintf(f, "  %s: %s\n", s->sym[i].symbol, s->error[i] ? s->error[i] : "failed");
            }
    }
}

bf_status bf_fetch_write_json(const bf_fetch_opts *o, const bf_fetch_summary *s, const char *path)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return BF_FAIL(BF_ENOMEM, "out of memory building the fetch summary");
    char t0[32], t1[32];
    bf_time_format(o->start, t0, sizeof t0);
    bf_time_format(o->end, t1, sizeof t1);
    cJSON_AddStringToObject(root, "schema", "barforge.fetch_summary/1");
    cJSON_AddStringToObject(root, "interval", bf_interval_name(o->interval_s));
    cJSON_AddNumberToObject(root, "interval_s", o->interval_s);
    cJSON_AddStringToObject(root, "start", t0);
    cJSON_AddStringToObject(root, "end", t1);
    cJSON_AddBoolToObject(root, "extended_hours", o->extended_hours);
    cJSON *pl = cJSON_AddArrayToObject(root, "providers");
    for (int p = 0; p < o->n_providers; p++)
        cJSON_AddItemToArray(pl, cJSON_CreateString(o->providers[p]));
    cJSON_AddStringToObject(root, "cache_dir", o->cache_dir);
    cJSON_AddBoolToObject(root, "refresh", o->refresh);
    cJSON_AddNumberToObject(root, "ranks", s->n_ranks);
    cJSON_AddNumberToObject(root, "symbols", s->n_symbols);
    cJSON_AddNumberToObject(root, "failed", s->n_failed);
    cJSON_AddNumberToObject(root, "bars", (double)s->bars);
    cJSON_AddNumberToObject(root, "gaps", (double)s->gaps);
    cJSON_AddNumberToObject(root, "fetched_bars", (double)s->fetched);
    cJSON_AddNumberToObject(root, "requests", (double)s->requests);
    cJSON_AddNumberToObject(root, "from_cache", (double)s->from_cache);
    cJSON_AddNumberToObject(root, "elapsed_s", s->elapsed_s);
    cJSON_AddNumberToObject(root, "fetched_bars_per_s",
                            s->elapsed_s > 0 ? (double)s->fetched / s->elapsed_s : 0.0);
    cJSON_AddNumberToObject(root, "peak_rss_mib_max_rank", s->peak_rss_mb);
    cJSON_AddNumberToObject(root, "cpu_s", s->cpu_s);
    cJSON *bp = cJSON_AddObjectToObject(root, "by_provider");
    for (int p = 0; p < o->n_providers; p++) {
        prov_totals t = totals_of(s, p);
        cJSON *x = cJSON_AddObjectToObject(bp, o->providers[p]);
        cJSON_AddNumberToObject(x, "symbols", t.symbols);
        cJSON_AddNumberToObject(x, "bars", (double)t.bars);
        cJSON_AddNumberToObject(x, "gaps", (double)t.gaps);
        cJSON_AddNumberToObject(x, "from_cache", t.from_cache);
    }
    cJSON *fl = cJSON_AddArrayToObject(root, "failed_symbols");
    cJSON *ps = cJSON_AddArrayToObject(root, "per_symbol");
    for (int i = 0; i < s->n_symbols; i++) {
        const bf_fetch_sym *y = &s->sym[i];
        int bad = y->status != BF_OK || y->provider < 0;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "symbol", y->symbol);
        if (bad)
            cJSON_AddNullToObject(x, "provider");
        else
            cJSON_AddStringToObject(x, "provider", o->providers[y->provider]);
        cJSON_AddStringToObject(x, "source", source_of(y));
        cJSON_AddNumberToObject(x, "bars", (double)y->bars);
        cJSON_AddNumberToObject(x, "expected", (double)y->expected);
        cJSON_AddNumberToObject(x, "gaps", (double)y->gaps);
        cJSON_AddNumberToObject(x, "fetched", (double)y->fetched);
        cJSON_AddNumberToObject(x, "requests", (double)y->requests);
        cJSON_AddNumberToObject(x, "rank", y->rank);
        cJSON_AddStringToObject(x, "status", y->status == BF_OK ? "ok" : bf_status_name(y->status));
        if (bad) {
            const char *msg = s->error && s->error[i] ? s->error[i] : "failed";
            cJSON_AddStringToObject(x, "error", msg);
            cJSON *fx = cJSON_CreateObject();
            cJSON_AddStringToObject(fx, "symbol", y->symbol);
            cJSON_AddStringToObject(fx, "error", msg);
            cJSON_AddItemToArray(fl, fx);
        }
        cJSON_AddItemToArray(ps, x);
    }
    bf_status st = bf_json_save(path, root);
    cJSON_Delete(root);
    return st;
}
