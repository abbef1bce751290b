/* csv provider: being written (in progress this session); open refuses so nothing pretends. */
#include "core/data/provider.h"

static bf_status open_csv(bf_provider *p)
{
    (void)p;
    return BF_FAIL(BF_ERR, "the csv provider is not in this build yet");
}

const bf_provider_ops bf_csv_ops = {.name = "csv", .max_batch = 1, .open = open_csv};
