/* provider.h - the one small interface every market-data source implements.
 *
 * A provider fetches bars for a batch of symbols over [start, end) at one
 * interval, into out[i] for symbols[i], with a status per symbol in st[i]
 * (one symbol's failure never stops the others; the detailed message for a
 * failed symbol is in errmsg[i]). Bars come back in the bars.h convention,
 * restricted to the session hours requested. Returns BF_OK unless the whole
 * batch could not be attempted (e.g. bad configuration, quota exhausted).
 *
 * Network providers take a base URL (BARFORGE_ALPACA_URL, ...) so tests can
 * point them at local servers. Keys never appear in logs, errors or files.
 */
#ifndef BF_PROVIDER_H
#define BF_PROVIDER_H

#include "core/data/bars.h"

#include <stdint.h>

#define BF_ERRMSG_MAX 512

typedef struct bf_provider_config {
    /* common */
    int extended_hours;        /* 0: regular session only (default) */
    int n_ranks;               /* rate limits are divided by this so N ranks never exceed them */
    /* synthetic */
    uint64_t seed;
    double signal_strength;    /* 0 = pure noise; default documented in synthetic.h */
    /* network */
    const char *base_url;      /* NULL: the provider's public URL (or its BARFORGE_*_URL env) */
    const char *key_id;        /* Alpaca key id / Alpha Vantage key */
    const char *secret_key;    /* Alpaca secret */
    const char *feed;          /* Alpaca feed, default "iex" */
    const char *adjustment;    /* Alpaca adjustment, default "raw" */
    double max_requests_per_s; /* 0: the provider's documented default */
    int max_retries;           /* default 5 */
    double backoff_base_s;     /* default 0.5; tests lower it */
    const char *state_dir;     /* where quota counters live (Alpha Vantage daily quota) */
    /* csv */
    const char *csv_dir;       /* directory of <SYMBOL>.csv files */
} bf_provider_config;

typedef struct bf_provider bf_provider;

typedef struct bf_provider_ops {
    const char *name;
    int max_batch; /* how many symbols one fetch call may take */
    bf_status (*open)(bf_provider *p); /* sets p->impl; cfg is already copied in */
    bf_status (*fetch)(bf_provider *p, const char *const *symbols, int nsym, int interval_s,
                       int64_t start, int64_t end, bf_bars *out, bf_status *st,
                       char (*errmsg)[BF_ERRMSG_MAX]);
    void (*close)(bf_provider *p);
} bf_provider_ops;

struct bf_provider {
    const bf_provider_ops *ops;
    bf_provider_config cfg;
    void *impl;
};

/* name: synthetic | alpaca | yahoo | alphavantage | csv */
bf_status bf_provider_open(const char *name, const bf_provider_config *cfg, bf_provider **out);
void bf_provider_close(bf_provider *p);
int bf_provider_known(const char *name);

/* Each provider module defines its ops table. */
extern const bf_provider_ops bf_synthetic_ops, bf_csv_ops, bf_alpaca_ops, bf_yahoo_ops,
    bf_alphavantage_ops;

#endif
