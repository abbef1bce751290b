"""harness.py - shared pieces of the provider integration tests.

Starts fake_market.py, drives it through its control API, runs provider_cli
and checks its JSON lines. A failed check raises TestFailure with what
differed; run_tests() prints each case and exits 1 if any failed.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fake_market  # noqa: E402  (bar formula and New York time, shared with the server)

KEYS = fake_market.KEYS


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


class Server:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_market.py")],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"fake_market.py did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def post(self, path, obj):
        req = urllib.request.Request(self.url + path, data=json.dumps(obj).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def reset(self, scenario=None):
        self.post("/_control/reset", {})
        if scenario:
            self.post("/_control/scenario", scenario)

    def inject(self, api, responses):
        self.post("/_control/inject", {"api": api, "responses": responses})

    def log(self, api=None):
        with urllib.request.urlopen(self.url + "/_control/log", timeout=10) as r:
            entries = json.loads(r.read())
        return [e for e in entries if api is None or e["api"] == api]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Result:
    def __init__(self, proc, extra_files=()):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        self.fetch = [x for x in self.lines if "fetch" in x]
        self.symbols = {x["symbol"]: x for x in self.lines if "symbol" in x}
        self.extra_files = extra_files

    def sym(self, s):
        check(s in self.symbols, f"no output for symbol {s}: {self.stdout[-2000:]}")
        return self.symbols[s]

    def describe(self):
        return f"rc={self.rc}\nstdout(tail)={self.stdout[-1500:]}\nstderr(tail)={self.stderr[-1500:]}"


def cli_path():
    check(len(sys.argv) > 1, "usage: test_x.py <path to provider_cli>")
    return sys.argv[1]


def run_cli(args, env_extra=None, timeout=60, mpi_ranks=0):
    env = dict(os.environ)
    env.update({"ALPACA_KEY_ID": KEYS["alpaca_id"], "ALPACA_SECRET_KEY": KEYS["alpaca_secret"],
                "ALPHAVANTAGE_API_KEY": KEYS["av"]})
    for k in ("BARFORGE_ALPACA_URL", "BARFORGE_YAHOO_URL", "BARFORGE_ALPHAVANTAGE_URL"):
        env.pop(k, None)
    env.update(env_extra or {})
    cmd = [cli_path()] + args
    if mpi_ranks:
        cmd = ["mpirun", "-n", str(mpi_ranks), "--oversubscribe"] + cmd
        if "ASAN_OPTIONS" in env:
            # Open MPI's process-lifetime allocations are suppressed by library
            # name (.ci/lsan.supp), which needs full stacks to match
            env["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0"
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    res = Result(p)
    # keys never appear in anything the client writes
    for k in KEYS.values():
        check(k not in p.stdout and k not in p.stderr,
              f"a key ({k[:3]}...) appears in the client's output:\n{res.describe()}")
    return res


def expected_bars(sym, starts):
    out = []
    for t in starts:
        v = fake_market.bar_values(sym, t)
        out.append([t, v["o"], v["h"], v["l"], v["c"], v["v"], v["vw"], v["n"]])
    return out


def compare_bars(got, want, what, vwap=True, trades=True):
    check(len(got) == len(want), f"{what}: {len(got)} bars, expected {len(want)}; "
          f"first got {got[:2]}, first expected {want[:2]}")
    for g, w in zip(got, want):
        check(g[0] == w[0], f"{what}: bar start {g[0]} ({fake_market.rfc3339(g[0])}), expected "
              f"{w[0]} ({fake_market.rfc3339(w[0])})")
        cols = [1, 2, 3, 4, 5] + ([6] if vwap else []) + ([7] if trades else [])
        for c in cols:
            check(g[c] is not None and abs(g[c] - w[c]) < 1e-6,
                  f"{what}: column {c} at {fake_market.rfc3339(w[0])} is {g[c]}, expected {w[c]}")
        if not vwap:
            check(g[6] is None, f"{what}: vwap {g[6]} where the provider has none (want NaN)")
        if not trades:
            check(g[7] == -1, f"{what}: trades {g[7]} where the provider has none (want -1)")


def regular_starts(t0, t1, interval):
    """The regular-session grid bars (09:30 + k * interval) in [t0, t1)."""
    return session_filter(fake_market.intraday_starts(t0, t1, interval, False, "open"), interval)


# NYSE full closures and 13:00 early closes, as published by the exchange
# (an independent check of calendar.h for the dates the tests use).
NYSE_CLOSED = {
    "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
    "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25",
    "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26",
    "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
    "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
    "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25",
    "2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18",
    "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24",
}
NYSE_EARLY = {"2024-07-03", "2024-11-29", "2024-12-24", "2025-07-03", "2025-11-28",
              "2025-12-24", "2026-11-27", "2026-12-24", "2027-11-26"}


def session_filter(starts, interval, extended=False):
    """Keep bar starts on NYSE trading days, before the (early) close."""
    out = []
    for t in starts:
        d = fake_market.ny_dt(t)
        day = d.strftime("%Y-%m-%d")
        if day in NYSE_CLOSED:
            continue
        close_h = (13 if day in NYSE_EARLY else 16) + (4 if extended else 0)
        if d.hour * 60 + d.minute >= close_h * 60 and interval < 86400:
            continue
        out.append(t)
    return out


def recent_range(days_ago, n_days):
    """[start, end) of n_days New York calendar days starting days_ago days ago."""
    import datetime as dt
    d = fake_market.ny_dt(int(time.time())).date() - dt.timedelta(days=days_ago)
    return (fake_market.ny_to_utc(d, 0, 0),
            fake_market.ny_to_utc(d + dt.timedelta(days=n_days), 0, 0))


def iso(t):
    return fake_market.rfc3339(t)


def run_tests(cases):
    srv = Server()
    failed = 0
    tmp = tempfile.mkdtemp(prefix="bf-providers-")
    try:
        for fn in cases:
            srv.reset()
            t = time.time()
            try:
                fn(srv, tmp)
                print(f"ok   {fn.__name__} ({time.time() - t:.1f} s)", flush=True)
            except TestFailure as e:
                failed += 1
                print(f"FAIL {fn.__name__}: {e}", flush=True)
        # nothing the client wrote under the state directory holds a key
        for p in Path(tmp).rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                for k in KEYS.values():
                    if k.encode() in data:
                        failed += 1
                        print(f"FAIL key found in file {p}")
    finally:
        srv.stop()
    print(f"{len(cases) - failed}/{len(cases)} cases passed")
    return 1 if failed else 0
