/* provider.c - the provider registry: name -> ops table. */
#include "core/data/provider.h"

#include <stdlib.h>
#include <string.h>

static const bf_provider_ops *const g_ops[] = {
    &bf_synthetic_ops, &bf_alpaca_ops, &bf_yahoo_ops, &bf_alphavantage_ops, &bf_csv_ops,
};
#define N_OPS (sizeof g_ops / sizeof g_ops[0])

static const bf_provider_ops *find(const char *name)
{
    for (size_t i = 0; i < N_OPS; i++)
        if (strcmp(g_ops[i]->name, name) == 0)
            return g_ops[i];
    return NULL;
}

int bf_provider_known(const char *name) { return name && find(name) != NULL; }

bf_status bf_provider_open(const char *name, const bf_provider_config *cfg, bf_provider **out)
{
    *out = NULL;
    const bf_provider_ops *ops = name ? find(name) : NULL;
    if (!ops)
        return BF_FAIL(BF_EINVAL,
                       "unknown provider '%s': expected synthetic, alpaca, yahoo, alphavantage or csv",
                       name ? name : "(null)");
    bf_provider *p = calloc(1, sizeof *p);
    BF_CHECK_ALLOC(p, sizeof *p);
    p->ops = ops;
    p->cfg = *cfg;
    bf_status st = ops->open ? ops->open(p) : BF_OK;
    if (st != BF_OK) {
        free(p);
        return st;
    }
    *out = p;
    return BF_OK;
}

void bf_provider_close(bf_provider *p)
{
    if (!p)
        return;
    if (p->ops->close)
        p->ops->close(p);
    free(p);
}
