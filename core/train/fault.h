/* fault.h - fault injection for crash and failure tests, from the
 * environment: BARFORGE_FAULT="name[:arg][,name[:arg]...]".
 *
 *   ckpt_write[:N]          the N-th checkpoint save of this process and every
 *                           later one fail as if the disk were full (default 1)
 *   ckpt_kill_mid_write[:N] SIGKILL halfway through the N-th save (default 1)
 *   nan_loss[:S]            the loss of training step S (1-based) is NaN
 *   sigterm_at_step[:S]     raise SIGTERM after step S (preemption tests)
 *   kill_at_step[:S]        SIGKILL after step S, before its checkpoints
 *   step_sleep_ms[:N]       sleep N ms after every step (lets a test signal a
 *                           run from outside while it is training)
 *
 * Production runs never set the variable; the cost is one getenv per query.
 */
#ifndef BF_TRAIN_FAULT_H
#define BF_TRAIN_FAULT_H

#include <stdint.h>

/* 1 when `name` is listed; *arg receives its argument or def. */
int bf_fault_get(const char *name, int64_t def, int64_t *arg);

#endif
