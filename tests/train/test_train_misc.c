/* test_train_misc.c - CRC-32C (TensorBoard records) against the standard
 * check value, the learning-rate schedule, the fault parser and the
 * preemption signal flag. */
#define _GNU_SOURCE
#include "core/train/fault.h"
#include "core/train/tfevents.h"
#include "core/train/train.h"
#include "dist/signals.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/test_util.h"

int main(void)
{
    /* CRC-32C check value (RFC 3720 / iSCSI): "123456789" -> 0xE3069283 */
    uint32_t c = bf_crc32c(0, "123456789", 9);
    T_CHECK(c == 0xE3069283u, "crc32c = %08x, expected e3069283", c);
    T_CHECK(bf_crc32c(bf_crc32c(0, "1234", 4), "56789", 5) == c, "crc32c not streamable");

    /* schedule: warmup 10 linear to lr, then cosine to 0 at total=110 */
    bf_train_opts o;
    bf_train_opts_defaults(&o);
    o.lr = 1.0;
    o.warmup_steps = 10;
    o.lr_schedule = BF_LR_COSINE;
    T_CHECK(fabs(bf_train_lr_at(&o, 0, 110) - 0.1) < 1e-12, "warmup step 0: %g", bf_train_lr_at(&o, 0, 110));
    T_CHECK(fabs(bf_train_lr_at(&o, 9, 110) - 1.0) < 1e-12, "warmup end: %g", bf_train_lr_at(&o, 9, 110));
    T_CHECK(fabs(bf_train_lr_at(&o, 10, 110) - 1.0) < 1e-12, "cosine start: %g", bf_train_lr_at(&o, 10, 110));
    T_CHECK(fabs(bf_train_lr_at(&o, 60, 110) - 0.5) < 1e-12, "cosine half: %g", bf_train_lr_at(&o, 60, 110));
    T_CHECK(fabs(bf_train_lr_at(&o, 110, 110)) < 1e-12, "cosine end: %g", bf_train_lr_at(&o, 110, 110));
    o.lr_schedule = BF_LR_NONE;
    T_CHECK(bf_train_lr_at(&o, 50, 110) == 1.0, "constant after warmup: %g", bf_train_lr_at(&o, 50, 110));
    o.warmup_steps = 0;
    T_CHECK(bf_train_lr_at(&o, 0, 110) == 1.0, "no warmup: %g", bf_train_lr_at(&o, 0, 110));

    /* model overrides are validated when given */
    T_CHECK(bf_train_opts_model_set(&o, "d-model", "16") == BF_OK, "d-model 16 refused");
    T_CHECK(bf_train_opts_model_set(&o, "no-such-flag", "1") == BF_EINVAL, "unknown model key accepted");

    /* fault parser */
    int64_t v = -1;
    setenv("BARFORGE_FAULT", "ckpt_write:3,nan_loss", 1);
    T_CHECK(bf_fault_get("ckpt_write", 1, &v) && v == 3, "ckpt_write:3 -> %lld", (long long)v);
    T_CHECK(bf_fault_get("nan_loss", 7, &v) && v == 7, "nan_loss default -> %lld", (long long)v);
    T_CHECK(!bf_fault_get("ckpt", 1, &v), "prefix 'ckpt' matched");
    T_CHECK(!bf_fault_get("ckpt_kill_mid_write", 1, &v), "absent fault matched");
    unsetenv("BARFORGE_FAULT");
    T_CHECK(!bf_fault_get("ckpt_write", 1, &v), "fault without the variable");

    /* signals set a flag and nothing else */
    T_CHECK(bf_signals_install() == BF_OK, "install");
    T_CHECK(bf_signals_pending() == 0, "pending before any signal");
    raise(SIGUSR1);
    T_CHECK(bf_signals_pending() == SIGUSR1, "SIGUSR1 not recorded (%d)", bf_signals_pending());
    raise(SIGTERM);
    T_CHECK(bf_signals_pending() == SIGUSR1, "the first signal must stay recorded");
    T_CHECK(strcmp(bf_signal_name(SIGTERM), "SIGTERM") == 0, "name");
    bf_signals_clear();
    bf_signals_restore();

    if (bf_test_failures) {
        fprintf(stderr, "test_train_misc: %d failure(s)\n", bf_test_failures);
        return 1;
    }
    printf("test_train_misc: ok\n");
    return 0;
}
