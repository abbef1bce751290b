#!/usr/bin/env python3
"""test_alphavantage.py - the alphavantage provider against fake_market.py.

Usage: test_alphavantage.py <provider_cli>. Checks month slices and the
US/Eastern labels across a DST change, the daily quota (local count shared
through the state directory, and the server's "Information" answer), "Note"
pacing retries, "Error Message" bodies, bad keys, bad types, 60min built from
30min bars, and that the key never shows in output or files.
"""
import datetime as dt
import os
import sys

import fake_market
from harness import (KEYS, check, compare_bars, expected_bars, iso, regular_starts, run_cli,
                     run_tests)

FAST = ["--rate", "200", "--backoff", "0.05"]
T0 = fake_market.ny_to_utc(dt.date(2024, 2, 26), 0, 0)  # spans 2024-03-10 (DST) and a month end
T1 = fake_market.ny_to_utc(dt.date(2024, 3, 16), 0, 0)


def args(srv, *extra, interval="15m", t0=T0, t1=T1, sym="AAPL"):
    return FAST + ["--url", srv.url] + list(extra) + ["alphavantage", interval, iso(t0),
                                                      iso(t1), sym]


def bars_of(sym, starts):
    return [b[:6] + [None, -1] for b in expected_bars(sym, starts)]


def quota_file(state):
    day = fake_market.ny_dt(int(__import__("time").time())).strftime("%Y-%m-%d")
    return os.path.join(state, ".quota", f"alphavantage-{day}")


def test_months_and_dst(srv, tmp):
    r = run_cli(args(srv, "--state-dir", os.path.join(tmp, "s0")))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    want = regular_starts(T0, T1, 900)
    check(len(want) == 15 * 26, f"set-up: {len(want)} bars")
    compare_bars(r.sym("AAPL")["bars"], bars_of("AAPL", want), "AAPL 15min", vwap=False,
                 trades=False)
    log = srv.log("alphavantage")
    check([e["query"].get("month") for e in log] == ["2024-02", "2024-03"],
          f"months asked: {[e['query'].get('month') for e in log]}")
    q = log[0]["query"]
    for k, v in (("function", "TIME_SERIES_INTRADAY"), ("symbol", "AAPL"), ("interval", "15min"),
                 ("outputsize", "full"), ("extended_hours", "false"), ("adjusted", "false"),
                 ("apikey", KEYS["av"])):
        check(q.get(k) == v, f"query {k}={q.get(k)!r}, expected {v!r}")
    check("apikey=***" in r.stderr, "the logged URL does not show the key redacted")
    check(os.path.getsize(quota_file(os.path.join(tmp, "s0"))) == 2,
          "quota file does not count 2 requests")


def test_local_daily_quota(srv, tmp):
    state = os.path.join(tmp, "s1")
    env = {"BARFORGE_ALPHAVANTAGE_DAILY_QUOTA": "3"}
    r = run_cli(args(srv, "--state-dir", state), env_extra=env)
    check(r.rc == 0, r.describe())
    r = run_cli(args(srv, "--state-dir", state), env_extra=env)
    f = r.fetch[-1]
    check(r.rc == 1 and f["fetch"] == "quota exhausted", r.describe())
    check("quota of 3" in f["error"] and quota_file(state) in f["error"],
          f"message does not name the limit and file: {f['error']}")
    check(r.sym("AAPL")["status"] == "quota exhausted" and not r.sym("AAPL")["bars"],
          f"{r.sym('AAPL')}")
    check(len(srv.log("alphavantage")) == 3, f"{len(srv.log('alphavantage'))} requests, quota 3")
    check("3 of 3 daily requests used" in r.stderr, "quota use not reported in the log")


def test_server_quota_information(srv, tmp):
    state = os.path.join(tmp, "s2")
    srv.reset({"alphavantage": {"daily_quota": 1}})
    r = run_cli(args(srv, "--state-dir", state))
    f = r.fetch[-1]
    check(r.rc == 1 and f["fetch"] == "quota exhausted" and "25 requests per day" in f["error"],
          r.describe())
    check(len(srv.log("alphavantage")) == 2, "the Information answer was retried")
    check(os.path.getsize(quota_file(state)) == 25, "quota file not marked full")
    r = run_cli(args(srv, "--state-dir", state))
    check(r.rc == 1 and len(srv.log("alphavantage")) == 2,
          "a request was sent after the server said the quota was used up")


def test_note_is_paced_and_retried(srv, tmp):
    srv.inject("alphavantage", [{"kind": "note"}])
    r = run_cli(args(srv, t1=T0 + 4 * 86400), env_extra={"BARFORGE_HTTP_MAX_WAIT_S": "0.3"})
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    log = srv.log("alphavantage")
    check(len(log) == 2, f"{len(log)} requests, expected 2 (Note, then data)")
    check(log[1]["t"] - log[0]["t"] >= 0.25, "no pause after a Note")


def test_error_message_bodies(srv, tmp):
    r = run_cli(args(srv, sym="BADSYM"))
    s = r.sym("BADSYM")
    check(r.rc == 0 and s["status"] == "not found" and "Invalid API call" in s["errmsg"],
          r.describe())
    check(len(srv.log("alphavantage")) == 1, "an Error Message was retried")
    r = run_cli(args(srv), env_extra={"ALPHAVANTAGE_API_KEY": "WRONGKEY123"})
    f = r.fetch[-1]
    check(r.rc == 1 and f["fetch"] == "authentication or subscription error" and
          "ALPHAVANTAGE_API_KEY" in f["error"], r.describe())
    check("WRONGKEY123" not in r.stdout + r.stderr, "the key was echoed")


def test_wrong_type(srv, tmp):
    srv.inject("alphavantage", [{"kind": "wrong_type"}])
    r = run_cli(args(srv))
    s = r.sym("AAPL")
    check(s["status"] == "corrupt data" and '"abc"' in s["errmsg"] and not s["bars"], f"{s}")
    srv.inject("alphavantage", [{"kind": "malformed"}])
    r = run_cli(args(srv))
    check(r.sym("AAPL")["status"] == "corrupt data", f"{r.sym('AAPL')}")


def test_hourly_from_half_hours(srv, tmp):
    d = dt.date(2024, 3, 12)
    t0, t1 = fake_market.ny_to_utc(d, 0, 0), fake_market.ny_to_utc(d, 23, 0)
    r = run_cli(args(srv, interval="1h", t0=t0, t1=t1))
    check(r.rc == 0, r.describe())
    check(srv.log("alphavantage")[0]["query"]["interval"] == "30min", "60min not built from 30min")
    got = r.sym("AAPL")["bars"]
    check(len(got) == 7 and got[0][0] == fake_market.ny_to_utc(d, 9, 30), f"{got[:2]}")
    halves = bars_of("AAPL", regular_starts(t0, t1, 1800))
    check(got[0][1] == halves[0][1] and got[0][4] == halves[1][4] and
          got[0][5] == halves[0][5] + halves[1][5], f"first hour {got[0]} from {halves[:2]}")


def test_daily_refused(srv, tmp):
    r = run_cli(args(srv, interval="1d"))
    check(r.rc == 2 and "60min" in r.fetch[-1]["error"], r.describe())
    check(not srv.log("alphavantage"), "a request was sent for daily bars")


def test_extended_hours(srv, tmp):
    d = dt.date(2024, 3, 12)
    t0, t1 = fake_market.ny_to_utc(d, 0, 0), fake_market.ny_to_utc(d, 23, 59)
    r = run_cli(args(srv, "--extended", t0=t0, t1=t1))
    check(r.rc == 0, r.describe())
    check(srv.log("alphavantage")[0]["query"]["extended_hours"] == "true", "extended_hours")
    want = fake_market.intraday_starts(t0, t1, 900, True, "clock")
    compare_bars(r.sym("AAPL")["bars"], bars_of("AAPL", want), "extended", vwap=False,
                 trades=False)


if __name__ == "__main__":
    sys.exit(run_tests([
        test_months_and_dst, test_local_daily_quota, test_server_quota_information,
        test_note_is_paced_and_retried, test_error_message_bodies, test_wrong_type,
        test_hourly_from_half_hours, test_daily_refused, test_extended_hours,
    ]))
