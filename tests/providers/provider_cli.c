/* provider_cli.c - test driver: open one provider, fetch once, print JSON.
 *
 *   provider_cli [options] <provider> <interval> <start> <end> SYMBOL...
 *     --url U --rate R --n-ranks N --retries K --backoff S --state-dir D
 *     --extended --feed F --adjustment A --mpi --repeat K
 * Keys come from the environment (ALPACA_KEY_ID, ALPACA_SECRET_KEY,
 * ALPHAVANTAGE_API_KEY), as a job would pass them. With --mpi the driver runs
 * under mpirun: n_ranks = the world size and rank r fetches SYMBOL number r.
 * --repeat K fetches K times (for rate tests).
 * stdout: one JSON object per line:
 *   {"fetch": "<status name>", "code": <bf_status>, "error": "..."}
 *   {"symbol": S, "status": "<name>", "code": c, "errmsg": "...", "bars":
 * [[ts,o,h,l,c,v,vw,n],...]} Exit code: 0 when open and fetch returned BF_OK, else
 * bf_exit_code(status).
 */
#include "core/base/log.h"
#include "core/base/timeutil.h"
#include "core/data/provider.h"
#include "dist/mpi_env.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isnan(v))
        printf("null");
    else
        printf("%.10g", v);
}

int main(int argc, char **argv)
{
    bf_provider_config cfg = {0};
    int use_mpi = 0, repeat = 1;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(o, "--extended")) {
            cfg.extended_hours = 1;
            continue;
        }
        if (!strcmp(o, "--mpi")) {
            use_mpi = 1;
            continue;
        }
        i++;
        if (!strcmp(o, "--url"))
            cfg.base_url = v;
        else if (!strcmp(o, "--rate"))
            cfg.max_requests_per_s = atof(v);
        else if (!strcmp(o, "--n-ranks"))
            cfg.n_ranks = atoi(v);
        else if (!strcmp(o, "--retries"))
            cfg.max_retries = atoi(v);
        else if (!strcmp(o, "--backoff"))
            cfg.backoff_base_s = atof(v);
        else if (!strcmp(o, "--state-dir"))
            cfg.state_dir = v;
        else if (!strcmp(o, "--feed"))
            cfg.feed = v;
        else if (!strcmp(o, "--adjustment"))
            cfg.adjustment = v;
        else if (!strcmp(o, "--repeat"))
            repeat = atoi(v);
        else {
            fprintf(stderr, "provider_cli: unknown option %s\n", o);
            return 2;
        }
    }
    if (argc - i < 5) {
        fprintf(stderr, "usage: provider_cli [options] provider interval start end SYMBOL...\n");
        return 2;
    }
    bf_log_configure(BF_LOG_DEBUG, 0);
    const char *name = argv[i], *ivs = argv[i + 1];
    const char *const *syms = (const char *const *)&argv[i + 4];
    int nsym = argc - i - 4;
    bf_mpi mpi;
    if (use_mpi) {
        if (bf_mpi_init(&argc, &argv, &mpi) != BF_OK) {
            printf("{\"fetch\": \"mpi\", \"error\": ");
            json_str(bf_last_error());
            printf("}\n");
            return 1;
        }
        cfg.n_ranks = bf_mpi_size();
        int r = bf_mpi_rank();
        if (r >= nsym) {
            bf_mpi_finalize(&mpi);
            return 0;
        }
        syms += r;
        nsym = 1;
    }
    int interval;
    int64_t start, end;
    bf_status st = bf_interval_parse(ivs, &interval);
    if (st == BF_OK)
        st = bf_time_parse(argv[i + 2], &start);
    if (st == BF_OK)
        st = bf_time_parse(argv[i + 3], &end);
    bf_provider *p = NULL;
    if (st == BF_OK)
        st = bf_provider_open(name, &cfg, &p);
    if (st != BF_OK) {
        printf("{\"fetch\": \"open\", \"code\": %d, \"status\": ", (int)st);
        json_str(bf_status_name(st));
        printf(", \"error\": ");
        json_str(bf_last_error());
        printf("}\n");
        if (use_mpi)
            bf_mpi_finalize(&mpi);
        return bf_exit_code(st);
    }
    bf_bars *out = calloc((size_t)nsym, sizeof *out);
    bf_status *sst = calloc((size_t)nsym, sizeof *sst);
    char(*msg)[BF_ERRMSG_MAX] = calloc((size_t)nsym, sizeof *msg);
    for (int k = 0; k < nsym; k++)
        bf_bars_init(&out[k], syms[k], interval);
    for (int r = 0; r < repeat; r++) {
        bf_clear_error();
        st = p->ops->fetch(p, syms, nsym, interval, start, end, out, sst, msg);
        printf("{\"fetch\": ");
        json_str(bf_status_name(st));
        printf(", \"code\": %d, \"error\": ", (int)st);
        json_str(st == BF_OK ? "" : bf_last_error());
        printf("}\n");
        if (st != BF_OK)
            break;
    }
    for (int k = 0; k < nsym; k++) {
        printf("{\"symbol\": ");
        json_str(syms[k]);
        printf(", \"status\": ");
        json_str(bf_status_name(sst[k]));
        printf(", \"code\": %d, \"errmsg\": ", (int)sst[k]);
        json_str(msg[k]);
        printf(", \"interval\": %d, \"bars\": [", out[k].interval_s);
        for (int64_t j = 0; j < out[k].n; j++) {
            printf("%s[%lld, ", j ? ", " : "", (long long)out[k].ts[j]);
            double v[6] = {out[k].open[j],  out[k].high[j],   out[k].low[j],
                           out[k].close[j], out[k].volume[j], out[k].vwap[j]};
            for (int c = 0; c < 6; c++) {
                json_num(v[c]);
                printf(", ");
            }
            printf("%lld]", (long long)out[k].trades[j]);
        }
        printf("]}\n");
        bf_bars_free(&out[k]);
    }
    free(out);
    free(sst);
    free(msg);
    bf_provider_close(p);
    if (use_mpi)
        bf_mpi_finalize(&mpi);
    return bf_exit_code(st);
}
