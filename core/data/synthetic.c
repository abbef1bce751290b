/* synthetic provider: being written (in progress this session); open refuses so nothing pretends. */
#include "core/data/provider.h"

static bf_status open_synthetic(bf_provider *p)
{
    (void)p;
    return BF_FAIL(BF_ERR, "the synthetic provider is not in this build yet");
}

const bf_provider_ops bf_synthetic_ops = {.name = "synthetic", .max_batch = 1, .open = open_synthetic};
