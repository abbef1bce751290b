#!/usr/bin/env python3
"""test_alpaca.py - the alpaca provider against fake_market.py.

Usage: test_alpaca.py <provider_cli>. Checks pagination across symbols,
absent symbols and empty answers, the 1h and 1d conventions, gzip, retries
(500, truncated bodies, 429 with X-RateLimit-Reset or Retry-After), the
errors that must not be retried (401, 403, 422), malformed pages, missing
keys, the base-URL variable and TLS verification.
"""
import datetime as dt
import math
import os
import shutil
import subprocess
import sys

import fake_market
from harness import (KEYS, check, compare_bars, expected_bars, iso, regular_starts, run_cli,
                     run_tests)

# 2024-03-04 .. 2024-03-16 spans the start of daylight saving time (2024-03-10)
T0 = fake_market.ny_to_utc(dt.date(2024, 3, 4), 0, 0)
T1 = fake_market.ny_to_utc(dt.date(2024, 3, 16), 0, 0)
FAST = ["--rate", "200", "--backoff", "0.05"]


def args(srv, *extra, interval="15m", t0=T0, t1=T1, syms=("AAPL", "MSFT")):
    return FAST + ["--url", srv.url] + list(extra) + ["alpaca", interval, iso(t0), iso(t1)] + \
        list(syms)


def test_pagination_across_symbols(srv, tmp):
    srv.reset({"alpaca": {"page_size": 37, "absent": ["ZZZ"]}})
    r = run_cli(args(srv, syms=("AAPL", "MSFT", "ZZZ")))
    check(r.rc == 0, f"fetch failed: {r.describe()}")
    want = regular_starts(T0, T1, 900)
    check(len(want) == 10 * 26, f"test set-up: {len(want)} regular 15m bars, expected 260")
    for s in ("AAPL", "MSFT"):
        check(r.sym(s)["status"] == "ok", f"{s}: {r.sym(s)}")
        compare_bars(r.sym(s)["bars"], expected_bars(s, want), s)
    check(r.sym("ZZZ")["status"] == "no data", f"absent ZZZ: {r.sym('ZZZ')['status']}")
    log = srv.log("alpaca")
    rows = 2 * len(fake_market.intraday_starts(T0, T1, 900, True, "clock"))
    check(len(log) == math.ceil(rows / 37),
          f"{len(log)} requests for {rows} rows at 37 a page, expected {math.ceil(rows / 37)}")
    check("page_token" not in log[0]["query"], "first request carried a page_token")
    for e in log[1:]:
        check(e["query"].get("page_token"), f"empty page token sent: {e['query']}")
    q = log[0]["query"]
    for k, v in (("feed", "iex"), ("limit", "10000"), ("timeframe", "15Min"),
                 ("adjustment", "raw"), ("symbols", "AAPL,MSFT,ZZZ"),
                 ("start", "2024-03-04T05:00:00Z"), ("end", "2024-03-16T03:59:59Z")):
        check(q.get(k) == v, f"query {k}={q.get(k)!r}, expected {v!r}")
    h = {k.lower(): v for k, v in log[0]["headers"].items()}
    check(h.get("apca-api-key-id") == KEYS["alpaca_id"], "APCA-API-KEY-ID header not sent")
    check("gzip" in h.get("accept-encoding", ""), f"Accept-Encoding: {h.get('accept-encoding')}")


def test_empty_answer(srv, tmp):
    srv.reset({"alpaca": {"empty": True}})
    r = run_cli(args(srv))
    check(r.rc == 0, f"fetch failed on an empty answer: {r.describe()}")
    for s in ("AAPL", "MSFT"):
        check(r.sym(s)["status"] == "no data" and not r.sym(s)["bars"], f"{s}: {r.sym(s)}")
    check(len(srv.log("alpaca")) == 1, f"{len(srv.log('alpaca'))} requests for an empty answer")


def test_hourly_on_the_session_grid(srv, tmp):
    d = dt.date(2024, 3, 12)
    t0, t1 = fake_market.ny_to_utc(d, 0, 0), fake_market.ny_to_utc(d, 23, 0)
    r = run_cli(args(srv, interval="1h", t0=t0, t1=t1, syms=("AAPL",)))
    check(r.rc == 0, r.describe())
    check(srv.log("alpaca")[0]["query"]["timeframe"] == "30Min", "1h not built from 30Min bars")
    got = r.sym("AAPL")["bars"]
    halves = regular_starts(t0, t1, 1800)
    want = []
    for i in range(0, len(halves), 2):
        part = expected_bars("AAPL", halves[i:i + 2])
        vol = sum(b[5] for b in part)
        want.append([part[0][0], part[0][1], max(b[2] for b in part), min(b[3] for b in part),
                     part[-1][4], vol, sum(b[6] * b[5] for b in part) / vol,
                     sum(b[7] for b in part)])
    check(len(want) == 7, f"set-up: {len(want)} hourly bars")
    check(want[0][0] == fake_market.ny_to_utc(d, 9, 30), "set-up: first hour is not 09:30")
    compare_bars(got, want, "AAPL 1h")


def test_daily_at_session_open(srv, tmp):
    d0 = dt.date(2024, 3, 4)
    t0, t1 = fake_market.ny_to_utc(d0, 9, 30), fake_market.ny_to_utc(d0, 0, 0) + 5 * 86400
    r = run_cli(args(srv, interval="1d", t0=t0, t1=t1, syms=("AAPL",)))
    check(r.rc == 0, r.describe())
    got = r.sym("AAPL")["bars"]
    days = [d0 + dt.timedelta(days=i) for i in range(5)]
    want = []
    for d in days:
        v = expected_bars("AAPL", [fake_market.ny_to_utc(d, 0, 0)])[0]
        want.append([fake_market.ny_to_utc(d, 9, 30)] + v[1:])
    compare_bars(got, want, "AAPL 1d")


def test_extended_hours(srv, tmp):
    d = dt.date(2024, 3, 13)
    t0, t1 = fake_market.ny_to_utc(d, 0, 0), fake_market.ny_to_utc(d, 23, 59)
    r = run_cli(args(srv, "--extended", t0=t0, t1=t1, syms=("AAPL",)))
    check(r.rc == 0, r.describe())
    want = fake_market.intraday_starts(t0, t1, 900, True, "clock")
    check(len(want) == 64, f"set-up: {len(want)} extended 15m bars")
    compare_bars(r.sym("AAPL")["bars"], expected_bars("AAPL", want), "AAPL extended")


def test_gzip(srv, tmp):
    srv.reset({"alpaca": {"gzip": True, "page_size": 100}})
    r = run_cli(args(srv))
    check(r.rc == 0, r.describe())
    compare_bars(r.sym("MSFT")["bars"], expected_bars("MSFT", regular_starts(T0, T1, 900)),
                 "MSFT over gzip")


def test_retry_500_then_success(srv, tmp):
    srv.inject("alpaca", [{"status": 500}, {"status": 503}])
    r = run_cli(args(srv))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    n = len(srv.log("alpaca"))
    check(n == 3, f"server saw {n} requests, expected 3 (two 5xx, then success)")


def test_429_waits_for_reset(srv, tmp):
    srv.inject("alpaca", [{"status": 429, "reset_in": 1.0}])
    r = run_cli(args(srv))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    log = srv.log("alpaca")
    check(len(log) == 2, f"{len(log)} requests, expected 2")
    reset = int(log[0]["t"] + 1.0 + 0.999)
    check(log[1]["t"] >= reset - 0.02,
          f"retried {reset - log[1]['t']:.3f} s before X-RateLimit-Reset")


def test_429_retry_after(srv, tmp):
    srv.inject("alpaca", [{"status": 429, "retry_after": "1"}])
    r = run_cli(args(srv))
    check(r.rc == 0, r.describe())
    log = srv.log("alpaca")
    check(len(log) == 2, f"{len(log)} requests, expected 2")
    gap = log[1]["t"] - log[0]["t"]
    check(gap >= 0.95, f"retried {gap:.3f} s after a Retry-After of 1 s")


def test_401_not_retried(srv, tmp):
    r = run_cli(args(srv), env_extra={"ALPACA_SECRET_KEY": "wrong-secret-0000"})
    check(r.rc == 1, f"rc {r.rc}, expected 1: {r.describe()}")
    f = r.fetch[-1]
    check(f["fetch"] == "authentication or subscription error", f"fetch status {f}")
    check("ALPACA_KEY_ID" in f["error"] and "401" in f["error"], f"message: {f['error']}")
    check("wrong-secret-0000" not in r.stdout + r.stderr, "the wrong secret was echoed")
    check(len(srv.log("alpaca")) == 1, f"401 retried: {len(srv.log('alpaca'))} requests")


def test_403_names_subscription(srv, tmp):
    srv.reset({"alpaca": {"sip_forbidden": True}})
    r = run_cli(args(srv, "--feed", "sip"))
    f = r.fetch[-1]
    check(r.rc == 1 and f["fetch"] == "authentication or subscription error", r.describe())
    check("subscription" in f["error"] and "'sip'" in f["error"], f"message: {f['error']}")
    check(len(srv.log("alpaca")) == 1, f"403 retried: {len(srv.log('alpaca'))} requests")


def test_422_names_parameter(srv, tmp):
    srv.inject("alpaca", [{"kind": "force_422"}])
    r = run_cli(args(srv))
    f = r.fetch[-1]
    check(r.rc == 2 and f["fetch"] == "invalid input", r.describe())
    check("invalid start: parsing time" in f["error"] and "422" in f["error"],
          f"message: {f['error']}")
    check(len(srv.log("alpaca")) == 1, f"422 retried: {len(srv.log('alpaca'))} requests")


def test_truncated_body_retried(srv, tmp):
    srv.inject("alpaca", [{"kind": "truncate"}])
    r = run_cli(args(srv))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    check(len(srv.log("alpaca")) == 2, f"{len(srv.log('alpaca'))} requests, expected 2")


def test_retries_exhausted(srv, tmp):
    srv.inject("alpaca", [{"kind": "truncate"}] * 3)
    r = run_cli(args(srv, "--retries", "2"))
    check(r.rc == 0, f"a transport failure should be per symbol: {r.describe()}")
    for s in ("AAPL", "MSFT"):
        check(r.sym(s)["status"] == "network error" and not r.sym(s)["bars"], f"{r.sym(s)}")
        check("3 attempts" in r.sym(s)["errmsg"], f"errmsg: {r.sym(s)['errmsg']}")
    check(len(srv.log("alpaca")) == 3, f"{len(srv.log('alpaca'))} requests, expected 3")
    srv.reset()
    srv.inject("alpaca", [{"status": 500}] * 3)
    r = run_cli(args(srv, "--retries", "2"))
    check(r.sym("AAPL")["status"] == "HTTP error" and "HTTP 500" in r.sym("AAPL")["errmsg"],
          f"{r.sym('AAPL')}")


def test_malformed_json(srv, tmp):
    srv.inject("alpaca", [{"kind": "malformed"}])
    r = run_cli(args(srv))
    check(r.rc == 0, r.describe())
    for s in ("AAPL", "MSFT"):
        check(r.sym(s)["status"] == "corrupt data" and "malformed JSON" in r.sym(s)["errmsg"],
              f"{r.sym(s)}")


def test_wrong_value_type(srv, tmp):
    srv.reset({"alpaca": {"page_size": 10000}})
    srv.inject("alpaca", [{"kind": "wrong_type", "symbol": "MSFT"}])
    r = run_cli(args(srv))
    check(r.sym("AAPL")["status"] == "ok", f"AAPL: {r.sym('AAPL')}")
    m = r.sym("MSFT")
    check(m["status"] == "corrupt data" and "'o' is \"abc\"" in m["errmsg"] and not m["bars"],
          f"MSFT: {m}")


def test_missing_keys(srv, tmp):
    r = run_cli(args(srv), env_extra={"ALPACA_KEY_ID": "", "APCA_API_KEY_ID": ""})
    f = r.fetch[-1]
    check(r.rc == 2 and f["fetch"] == "open" and "ALPACA_KEY_ID" in f["error"], r.describe())
    check(not srv.log("alpaca"), "a request was sent without keys")


def test_base_url_variable(srv, tmp):
    a = FAST + ["alpaca", "15m", iso(T0), iso(T1), "AAPL"]
    r = run_cli(a, env_extra={"BARFORGE_ALPACA_URL": srv.url + "/"})
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    check(len(srv.log("alpaca")) == 1, "BARFORGE_ALPACA_URL not used")


def test_connection_refused(srv, tmp):
    a = FAST + ["--url", "http://127.0.0.1:9", "--retries", "1", "alpaca", "15m", iso(T0),
                iso(T1), "AAPL"]
    r = run_cli(a)
    check(r.sym("AAPL")["status"] == "network error", r.describe())


def test_tls_verification_stays_on(srv, tmp):
    if not shutil.which("openssl"):
        print("     (openssl not found: TLS case skipped)")
        return
    key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    tls = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__),
                                                         "fake_market.py"),
                            "--tls", crt, key], stdout=subprocess.PIPE, text=True)
    try:
        port = int(tls.stdout.readline().split()[1])
        a = FAST + ["--url", f"https://127.0.0.1:{port}", "--retries", "0", "alpaca", "15m",
                    iso(T0), iso(T1), "AAPL"]
        r = run_cli(a)
        s = r.sym("AAPL")
        check(s["status"] == "network error" and ("certificate" in s["errmsg"].lower()
                                                  or "ssl" in s["errmsg"].lower()),
              f"a self-signed certificate was accepted or misreported: {s}")
    finally:
        tls.terminate()
        tls.wait()
    for p in (key, crt):
        os.remove(p)


if __name__ == "__main__":
    sys.exit(run_tests([
        test_pagination_across_symbols, test_empty_answer, test_hourly_on_the_session_grid,
        test_daily_at_session_open, test_extended_hours, test_gzip, test_retry_500_then_success,
        test_429_waits_for_reset, test_429_retry_after, test_401_not_retried,
        test_403_names_subscription, test_422_names_parameter, test_truncated_body_retried,
        test_retries_exhausted, test_malformed_json, test_wrong_value_type, test_missing_keys,
        test_base_url_variable, test_connection_refused, test_tls_verification_stays_on,
    ]))
