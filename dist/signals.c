/* signals.c - see signals.h. */
#define _POSIX_C_SOURCE 200809L
#include "dist/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_pending = 0;
static int g_installed = 0;
static struct sigaction g_old_term, g_old_usr1, g_old_int;

static void on_signal(int sig)
{
    if (sig == SIGINT && g_pending == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    if (g_pending == 0)
        g_pending = sig;
}

bf_status bf_signals_install(void)
{
    if (g_installed)
        return BF_OK;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* a signal must not fail a write() in progress */
    if (sigaction(SIGTERM, &sa, &g_old_term) != 0 || sigaction(SIGUSR1, &sa, &g_old_usr1) != 0 ||
        sigaction(SIGINT, &sa, &g_old_int) != 0)
        return bf_fail_errno(__FILE__, __LINE__, "sigaction", "cannot install signal handlers");
    g_installed = 1;
    return BF_OK;
}

void bf_signals_restore(void)
{
    if (!g_installed)
        return;
    sigaction(SIGTERM, &g_old_term, NULL);
    sigaction(SIGUSR1, &g_old_usr1, NULL);
    sigaction(SIGINT, &g_old_int, NULL);
    g_installed = 0;
}

int bf_signals_pending(void) { return (int)g_pending; }
void bf_signals_clear(void) { g_pending = 0; }

const char *bf_signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGINT: return "SIGINT";
    case 0: return "none";
    default: return "signal";
    }
}
