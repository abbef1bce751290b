#!/usr/bin/env python3
"""test_yahoo.py - the yahoo provider against fake_market.py.

Usage: test_yahoo.py <provider_cli>. Intraday ranges are placed relative to
today, since Yahoo (and the fake) serve intraday bars for a limited past.
Checks null rows, the exchange time zone, 1m chunking, the history limits
(refused, never truncated), chart.error bodies, retries, bad types, gzip.
"""
import datetime as dt
import sys

import fake_market
from harness import (check, compare_bars, expected_bars, iso, recent_range, run_cli, run_tests,
                     session_filter)

FAST = ["--rate", "200", "--backoff", "0.05"]


def args(srv, t0, t1, *extra, interval="15m", syms=("AAPL",)):
    return FAST + ["--url", srv.url] + list(extra) + ["yahoo", interval, iso(t0), iso(t1)] + \
        list(syms)


def served(sym, p1, p2, step, pre):
    """What one fake Yahoo answer holds, minus its null rows (every 7th from 3)."""
    ts = (fake_market.daily_starts(p1, p2, "open") if step == 86400
          else fake_market.intraday_starts(p1, p2, step, pre, "open"))
    return [t for i, t in enumerate(ts) if i % 7 != 3]


def bars_of(sym, starts):
    return [b[:6] + [None, -1] for b in expected_bars(sym, starts)]


def test_intraday_nulls_and_grid(srv, tmp):
    t0, t1 = recent_range(21, 7)
    r = run_cli(args(srv, t0, t1))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    want = session_filter(served("AAPL", t0, t1, 900, False), 900)
    check(len(want) > 80, f"set-up: only {len(want)} bars expected")
    compare_bars(r.sym("AAPL")["bars"], bars_of("AAPL", want), "AAPL 15m", vwap=False,
                 trades=False)
    log = srv.log("yahoo")
    check(len(log) == 1, f"{len(log)} requests, expected 1")
    q = log[0]["query"]
    for k, v in (("interval", "15m"), ("includePrePost", "false"), ("period1", str(t0)),
                 ("period2", str(t1))):
        check(q.get(k) == v, f"query {k}={q.get(k)!r}, expected {v!r}")
    ua = {k.lower(): v for k, v in log[0]["headers"].items()}.get("user-agent", "")
    check(ua and not ua.startswith("curl/"), f"User-Agent {ua!r}")


def test_one_minute_in_week_chunks(srv, tmp):
    t0, t1 = recent_range(12, 10)
    r = run_cli(args(srv, t0, t1, interval="1m"))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    log = srv.log("yahoo")
    check(len(log) == 2, f"{len(log)} requests for 10 days of 1m, expected 2 (7-day chunks)")
    mid = t0 + 7 * 86400
    check((log[0]["query"]["period1"], log[0]["query"]["period2"]) == (str(t0), str(mid)),
          f"first chunk {log[0]['query']}")
    want = served("AAPL", t0, mid, 60, False) + served("AAPL", mid, t1, 60, False)
    compare_bars(r.sym("AAPL")["bars"], bars_of("AAPL", session_filter(want, 60)), "AAPL 1m",
                 vwap=False, trades=False)


def test_history_limit_refused(srv, tmp):
    t0, t1 = recent_range(100, 50)
    r = run_cli(args(srv, t0, t1))
    f = r.fetch[-1]
    check(r.rc == 2 and f["fetch"] == "invalid input", r.describe())
    check("60 days" in f["error"] and iso(t0) in f["error"] and "truncated" in f["error"],
          f"message does not name the limit and the range: {f['error']}")
    check(not srv.log("yahoo"), "a request was sent for a range beyond the limit")
    # the 1m limit is 30 days
    t0, t1 = recent_range(40, 5)
    r = run_cli(args(srv, t0, t1, interval="1m"))
    check(r.rc == 2 and "30 days" in r.fetch[-1]["error"], r.describe())


def test_server_422_is_clear(srv, tmp):
    t0, t1 = recent_range(21, 7)
    srv.inject("yahoo", [{"kind": "force_422"}])
    r = run_cli(args(srv, t0, t1))
    f = r.fetch[-1]
    check(r.rc == 2 and "must be within the last" in f["error"], r.describe())
    check(len(srv.log("yahoo")) == 1, "a 422 was retried")


def test_delisted(srv, tmp):
    t0, t1 = recent_range(21, 7)
    r = run_cli(args(srv, t0, t1, syms=("DELISTED",)))
    s = r.sym("DELISTED")
    check(r.rc == 0 and s["status"] == "no data" and "delisted" in s["errmsg"], r.describe())
    check(len(srv.log("yahoo")) == 1, "a 404 was retried")


def test_daily_at_open(srv, tmp):
    d0 = dt.date(2024, 3, 4)
    t0, t1 = fake_market.ny_to_utc(d0, 0, 0), fake_market.ny_to_utc(d0, 0, 0) + 12 * 86400
    r = run_cli(args(srv, t0, t1, interval="1d"))
    check(r.rc == 0, r.describe())
    want = served("AAPL", t0, t1, 86400, False)
    check(len(want) == 9, f"set-up: {len(want)} daily bars")
    compare_bars(r.sym("AAPL")["bars"], bars_of("AAPL", want), "AAPL 1d", vwap=False,
                 trades=False)


def test_extended_hours(srv, tmp):
    t0, t1 = recent_range(21, 7)
    r = run_cli(args(srv, t0, t1, "--extended"))
    check(r.rc == 0, r.describe())
    check(srv.log("yahoo")[0]["query"]["includePrePost"] == "true", "includePrePost not set")
    want = session_filter(served("AAPL", t0, t1, 900, True), 900, extended=True)
    compare_bars(r.sym("AAPL")["bars"], bars_of("AAPL", want), "AAPL extended", vwap=False,
                 trades=False)


def test_wrong_type_and_malformed(srv, tmp):
    t0, t1 = recent_range(21, 7)
    srv.inject("yahoo", [{"kind": "wrong_type"}])
    r = run_cli(args(srv, t0, t1))
    s = r.sym("AAPL")
    check(s["status"] == "corrupt data" and '"abc"' in s["errmsg"] and not s["bars"], f"{s}")
    srv.inject("yahoo", [{"kind": "malformed"}])
    r = run_cli(args(srv, t0, t1))
    s = r.sym("AAPL")
    check(s["status"] == "corrupt data" and "malformed JSON" in s["errmsg"], f"{s}")


def test_retries(srv, tmp):
    t0, t1 = recent_range(21, 7)
    srv.inject("yahoo", [{"status": 500}, {"status": 429}, {"kind": "truncate"}])
    r = run_cli(args(srv, t0, t1))
    check(r.rc == 0 and r.sym("AAPL")["status"] == "ok", r.describe())
    check(len(srv.log("yahoo")) == 4, f"{len(srv.log('yahoo'))} requests, expected 4")


def test_class_suffix_and_gzip(srv, tmp):
    t0, t1 = recent_range(21, 7)
    srv.reset({"yahoo": {"gzip": True}})
    r = run_cli(args(srv, t0, t1, syms=("BRK.B",)))
    check(r.rc == 0 and r.sym("BRK.B")["status"] == "ok", r.describe())
    check(srv.log("yahoo")[0]["path"] == "/v8/finance/chart/BRK-B", srv.log("yahoo")[0]["path"])
    want = session_filter(served("BRK-B", t0, t1, 900, False), 900)
    compare_bars(r.sym("BRK.B")["bars"], bars_of("BRK-B", want), "BRK.B", vwap=False,
                 trades=False)


def test_base_url_variable(srv, tmp):
    t0, t1 = recent_range(21, 7)
    r = run_cli(FAST + ["yahoo", "15m", iso(t0), iso(t1), "AAPL"],
                env_extra={"BARFORGE_YAHOO_URL": srv.url})
    check(r.rc == 0 and len(srv.log("yahoo")) == 1, r.describe())


if __name__ == "__main__":
    sys.exit(run_tests([
        test_intraday_nulls_and_grid, test_one_minute_in_week_chunks, test_history_limit_refused,
        test_server_422_is_clear, test_delisted, test_daily_at_open, test_extended_hours,
        test_wrong_type_and_malformed, test_retries, test_class_suffix_and_gzip,
        test_base_url_variable,
    ]))
