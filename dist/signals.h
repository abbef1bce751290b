/* signals.h - preemption signals: SIGTERM (Kubernetes, Spot shutdown),
 * SIGUSR1 (Slurm's --signal=USR1@T warning) and SIGINT (Ctrl-C).
 *
 * The handler only stores the signal number in a volatile sig_atomic_t
 * (async-signal-safe); the training loop polls bf_signals_pending() between
 * steps, finishes the step, commits a checkpoint and exits with
 * BF_EXIT_PREEMPTED (199). A second SIGINT restores the default action and
 * re-raises it, so Ctrl-C twice still stops a stuck job.
 */
#ifndef BF_SIGNALS_H
#define BF_SIGNALS_H

#include "core/base/status.h"

/* Install the handlers (idempotent). */
bf_status bf_signals_install(void);
/* Put the previous handlers back. */
void bf_signals_restore(void);
/* The first signal received since install/clear, 0 when none. */
int bf_signals_pending(void);
void bf_signals_clear(void);
/* "SIGTERM", "SIGUSR1", ... */
const char *bf_signal_name(int sig);

#endif
