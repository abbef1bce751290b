#!/usr/bin/env python3
"""test_rate_shared.py - N ranks together stay within a provider's limits.

Usage: test_rate_shared.py <provider_cli>.
1. mpirun -n 2 provider_cli --mpi --rate 20: each rank paces itself at
   20 / 2 = 10 requests/s. The server records every request time; in any
   window of 1 s it must see at most 20 + 2 * 2 requests. A bucket of one
   token spaces a rank's sends at least 1/10 s apart, so a closed 1 s window
   holds at most 10 + 1 of them (the burst allowance of ratelimit.h); the
   second +1 per rank absorbs arrival jitter on this shared 2-core machine
   (a request held up in the server while the next is not). Without sharing,
   each rank would pace at 20/s and the server would see about 40.
2. The same with two independent processes given --n-ranks 2 (how the fetch
   engine passes the rank count without MPI knowledge in the provider).
3. Alpha Vantage's daily quota is shared through the state directory: two
   ranks with a quota of 3 and two requests each make exactly 3 requests.
"""
import datetime as dt
import os
import subprocess
import sys

import fake_market
from harness import KEYS, check, cli_path, iso, run_cli, run_tests

LIMIT = 20.0
D = dt.date(2024, 3, 12)
T0, T1 = fake_market.ny_to_utc(D, 9, 30), fake_market.ny_to_utc(D, 17, 0)  # 30 rows per symbol


def max_in_window(times, width=1.0):
    times = sorted(times)
    best, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= width:
            j += 1
        best = max(best, i - j + 1)
    return best


def check_rate(srv, n_ranks, what):
    times = [e["t"] for e in srv.log("alpaca")]
    check(len(times) >= 55, f"{what}: only {len(times)} requests reached the server")
    peak = max_in_window(times)
    allowed = LIMIT + 2 * n_ranks
    check(peak <= allowed, f"{what}: {peak} requests in one 1 s window, allowed {allowed:g} "
          f"(limit {LIMIT:g} + burst and jitter {2 * n_ranks})")
    print(f"     {what}: {len(times)} requests, peak {peak} in a 1 s window "
          f"(allowed {allowed:g})")


def test_mpi_ranks_share_the_limit(srv, tmp):
    srv.reset({"alpaca": {"page_size": 1}})
    r = run_cli(["--mpi", "--rate", str(LIMIT), "--url", srv.url, "alpaca", "15m", iso(T0),
                 iso(T1), "AAPL", "MSFT"], mpi_ranks=2, timeout=120)
    check(r.rc == 0, r.describe())
    for s in ("AAPL", "MSFT"):
        check(r.sym(s)["status"] == "ok" and len(r.sym(s)["bars"]) == 26, f"{s}: {r.sym(s)}")
    check_rate(srv, 2, "mpirun -n 2")


def test_processes_share_the_limit(srv, tmp):
    srv.reset({"alpaca": {"page_size": 1}})
    env = dict(os.environ, ALPACA_KEY_ID=KEYS["alpaca_id"], ALPACA_SECRET_KEY=KEYS["alpaca_secret"])
    procs = [subprocess.Popen([cli_path(), "--n-ranks", "2", "--rate", str(LIMIT), "--url",
                               srv.url, "alpaca", "15m", iso(T0), iso(T1), s],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for s in ("AAPL", "MSFT")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        check(p.returncode == 0, f"rc {p.returncode}: {out[-500:]} {err[-500:]}")
    check_rate(srv, 2, "two processes")


def test_daily_quota_shared_by_ranks(srv, tmp):
    state = os.path.join(tmp, "shared-state")
    t0 = fake_market.ny_to_utc(dt.date(2024, 2, 26), 0, 0)
    t1 = fake_market.ny_to_utc(dt.date(2024, 3, 2), 0, 0)  # two months: two requests
    r = run_cli(["--mpi", "--rate", "100", "--state-dir", state, "--url", srv.url,
                 "alphavantage", "15m", iso(t0), iso(t1), "AAPL", "MSFT"], mpi_ranks=2,
                env_extra={"BARFORGE_ALPHAVANTAGE_DAILY_QUOTA": "3"}, timeout=120)
    n = len(srv.log("alphavantage"))
    check(n == 3, f"server saw {n} requests with a shared quota of 3")
    statuses = sorted(r.sym(s)["status"] for s in ("AAPL", "MSFT"))
    check(statuses == ["ok", "quota exhausted"], f"statuses {statuses}: {r.describe()}")


if __name__ == "__main__":
    sys.exit(run_tests([test_mpi_ranks_share_the_limit, test_processes_share_the_limit,
                        test_daily_quota_shared_by_ranks]))
