/* alpaca provider: being written (in progress this session); open refuses so nothing pretends. */
#include "core/data/provider.h"

static bf_status open_alpaca(bf_provider *p)
{
    (void)p;
    return BF_FAIL(BF_ERR, "the alpaca provider is not in this build yet");
}

const bf_provider_ops bf_alpaca_ops = {.name = "alpaca", .max_batch = 1, .open = open_alpaca};
