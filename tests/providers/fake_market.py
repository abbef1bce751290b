#!/usr/bin/env python3
"""fake_market.py - a local stand-in for the three market-data APIs barforge reads.

Serves, on 127.0.0.1 and a random port (printed as "PORT <n>" on stdout):
  GET /v2/stocks/bars              Alpaca Market Data v2, multi-symbol bars
  GET /v8/finance/chart/<symbol>   Yahoo Finance chart v8
  GET /query?function=TIME_SERIES_INTRADAY   Alpha Vantage
with their JSON shapes, headers and error bodies, plus a control API:
  POST /_control/scenario  {"alpaca": {...}, "yahoo": {...}, "alphavantage": {...}}
  POST /_control/inject    {"api": "alpaca", "responses": [{...}, ...]}
       answers served (in order) before normal ones: {"status": 500},
       {"status": 429, "reset_in": 1.0} (X-RateLimit-Reset), {"status": 429,
       "retry_after": "1"}, {"kind": "truncate"}, {"kind": "malformed"},
       {"kind": "wrong_type"}, {"kind": "note"}, {"kind": "info_daily"},
       {"kind": "force_422"}
  POST /_control/reset     clear the log, injections and scenarios
  GET  /_control/log       every API request: {"t", "api", "path", "query", "headers"}

Bars are a pure function of (symbol, bar start) so tests can check every value:
  p = 50 + sum(ord(c) for c in symbol) % 50 + ((ts // 60) % 997) * 0.01
  open p, high p + 0.5, low p - 0.5, close p + 0.25, volume 100 + (ts // 60) % 50,
  vwap p + 0.1, trades 10 + (ts // 60) % 7
New York time comes from zoneinfo (an implementation independent of barforge's).
Only the standard library is used.
"""
import base64
import datetime as dt
import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
UTC = dt.timezone.utc

KEYS = {"alpaca_id": "PKTESTKEY0001", "alpaca_secret": "alpaca-secret-s3cr3t-XYZ",
        "av": "AVKEYTEST9876"}

STATE = {"lock": threading.Lock(), "log": [], "inject": {}, "scenario": {}, "av_count": 0}


def bar_values(sym, ts):
    p = 50 + sum(ord(c) for c in sym) % 50 + ((ts // 60) % 997) * 0.01
    return dict(o=round(p, 4), h=round(p + 0.5, 4), l=round(p - 0.5, 4), c=round(p + 0.25, 4),
                v=100 + (ts // 60) % 50, vw=round(p + 0.1, 4), n=10 + (ts // 60) % 7)


def ny_dt(ts):
    return dt.datetime.fromtimestamp(ts, UTC).astimezone(NY)


def ny_to_utc(d, h, m):
    return int(dt.datetime(d.year, d.month, d.day, h, m, tzinfo=NY).timestamp())


def intraday_starts(t0, t1, interval, extended, grid):
    """Bar starts in [t0, t1): weekdays, 04:00-20:00 NY (extended) or
    09:30-16:00; grid 'clock' (multiples of the interval from midnight, Alpaca
    and Alpha Vantage) or 'open' (09:30 + k * interval, Yahoo)."""
    out = []
    d = ny_dt(t0).date() - dt.timedelta(days=1)
    last = ny_dt(t1).date() + dt.timedelta(days=1)
    while d <= last:
        if d.weekday() < 5:
            lo = ny_to_utc(d, 4, 0) if extended else ny_to_utc(d, 9, 30)
            hi = ny_to_utc(d, 20, 0) if extended else ny_to_utc(d, 16, 0)
            if grid == "open":
                anchor = ny_to_utc(d, 9, 30)
                t = anchor - ((anchor - lo) // interval) * interval
            else:
                midnight = ny_to_utc(d, 0, 0)
                t = midnight + -(-(lo - midnight) // interval) * interval
            while t < hi:
                if t0 <= t < t1:
                    out.append(t)
                t += interval
        d += dt.timedelta(days=1)
    return out


def daily_starts(t0, t1, at):
    """Weekday daily bars; at = 'midnight' (Alpaca) or 'open' (Yahoo)."""
    out = []
    d = ny_dt(t0).date() - dt.timedelta(days=1)
    while d <= ny_dt(t1).date() + dt.timedelta(days=1):
        if d.weekday() < 5:
            t = ny_to_utc(d, 0, 0) if at == "midnight" else ny_to_utc(d, 9, 30)
            if t0 <= t < t1:
                out.append(t)
        d += dt.timedelta(days=1)
    return out


def rfc3339(ts):
    return dt.datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    return int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # --- plumbing ---------------------------------------------------------
    def send_body(self, status, obj, headers=None, ctype="application/json"):
        body = obj if isinstance(obj, (bytes, bytearray)) else json.dumps(obj).encode()
        scen = self.scenario()
        use_gzip = scen.get("gzip") and "gzip" in self.headers.get("Accept-Encoding", "")
        if use_gzip:
            body = gzip.compress(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_truncated(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) + 500))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def scenario(self):
        return STATE["scenario"].get(self.api, {})

    def next_injection(self):
        with STATE["lock"]:
            q = STATE["inject"].get(self.api, [])
            return q.pop(0) if q else None

    def record(self, query):
        entry = {"t": time.time(), "api": self.api, "path": urlparse(self.path).path,
                 "query": query, "headers": {k: v for k, v in self.headers.items()}}
        with STATE["lock"]:
            STATE["log"].append(entry)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = json.loads(self.rfile.read(n) or b"{}")
        path = urlparse(self.path).path
        with STATE["lock"]:
            if path == "/_control/scenario":
                STATE["scenario"] = data
            elif path == "/_control/inject":
                STATE["inject"].setdefault(data["api"], []).extend(data["responses"])
            elif path == "/_control/reset":
                STATE["log"].clear()
                STATE["inject"].clear()
                STATE["scenario"] = {}
                STATE["av_count"] = 0
        self.api = "control"
        self.send_body(200, {"ok": True})

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        if u.path == "/_control/log":
            self.api = "control"
            with STATE["lock"]:
                log = list(STATE["log"])
            return self.send_body(200, log)
        if u.path == "/v2/stocks/bars":
            self.api = "alpaca"
        elif u.path.startswith("/v8/finance/chart/"):
            self.api = "yahoo"
        elif u.path == "/query":
            self.api = "alphavantage"
        else:
            self.api = "none"
            return self.send_body(404, {"message": "not found"})
        self.record(q)
        inj = self.next_injection()
        if inj and self.common_injection(inj):
            return
        getattr(self, "get_" + self.api)(u, q, inj)

    def common_injection(self, inj):
        if inj.get("status") == 429:
            h = {}
            if "reset_in" in inj:
                h["X-RateLimit-Limit"] = 200
                h["X-RateLimit-Remaining"] = 0
                h["X-RateLimit-Reset"] = int(time.time() + inj["reset_in"] + 0.999)
            if "retry_after" in inj:
                h["Retry-After"] = inj["retry_after"]
            body = {"code": 42910000, "message": "too many requests."}
            if self.api == "yahoo":
                return self.send_body(429, b"Too Many Requests\r\n", h, "text/html") or True
            return self.send_body(429, body, h) or True
        if inj.get("status") and inj["status"] >= 500:
            return self.send_body(inj["status"], {"message": "internal server error"}) or True
        if inj.get("kind") == "truncate":
            return self.send_truncated({"padding": "x" * 400}) or True
        if inj.get("kind") == "malformed":
            return self.send_body(200, b'{"bars": {"AAPL": [{"t": "2024-01-02T14:30:00Z", "o":') or True
        return False

    # --- Alpaca ------------------------------------------------------------
    def get_alpaca(self, u, q, inj):
        scen = self.scenario()
        if (self.headers.get("APCA-API-KEY-ID") != KEYS["alpaca_id"]
                or self.headers.get("APCA-API-SECRET-KEY") != KEYS["alpaca_secret"]):
            return self.send_body(401, {"code": 40110000, "message": "request is not authorized"})
        tf = {"1Min": 60, "5Min": 300, "15Min": 900, "30Min": 1800, "1Hour": 3600,
              "1Day": 86400}.get(q.get("timeframe"))
        if tf is None:
            return self.send_body(422, {"code": 42210000, "message": "invalid timeframe"})
        if "page_token" in q and q["page_token"] in ("", "null"):
            return self.send_body(422, {"code": 42210000, "message": "invalid page token"})
        if q.get("feed") == "sip" and scen.get("sip_forbidden"):
            return self.send_body(403, {"code": 40310000, "message":
                                        "subscription does not permit querying recent SIP data"})
        if inj and inj.get("kind") == "force_422":
            return self.send_body(422, {"code": 42210000, "message": "invalid start: parsing time"})
        try:
            t0, t1 = parse_rfc3339(q["start"]), parse_rfc3339(q["end"]) + 1  # end inclusive
            limit = int(q.get("limit", "1000"))
        except (KeyError, ValueError):
            return self.send_body(422, {"code": 42210000, "message": "invalid start or end"})
        if limit < 1 or limit > 10000:
            return self.send_body(422, {"code": 42210000, "message": "invalid limit"})
        symbols = sorted(s for s in q.get("symbols", "").split(",") if s)
        rows = []
        for s in symbols:
            if s in scen.get("absent", []) or scen.get("empty"):
                continue
            starts = (daily_starts(t0, t1, "midnight") if tf == 86400
                      else intraday_starts(t0, t1, tf, True, "clock"))
            rows += [(s, t) for t in starts]
        size = min(limit, scen.get("page_size", limit))
        off = 0
        if q.get("page_token"):
            off = int(base64.b64decode(q["page_token"]).decode().split(":")[1])
        page = rows[off:off + size]
        bars = {}
        for s, t in page:
            v = bar_values(s, t)
            bar = {"t": rfc3339(t), "o": v["o"], "h": v["h"], "l": v["l"], "c": v["c"],
                   "v": v["v"], "n": v["n"], "vw": v["vw"]}
            if inj and inj.get("kind") == "wrong_type" and s == inj.get("symbol", s):
                bar["o"] = "abc"
            bars.setdefault(s, []).append(bar)
        nxt = None
        if off + size < len(rows):
            nxt = base64.b64encode(f"off:{off + size}".encode()).decode()
        h = {"X-RateLimit-Limit": 200, "X-RateLimit-Remaining": 199,
             "X-RateLimit-Reset": int(time.time()) + 60}
        self.send_body(200, {"bars": bars, "next_page_token": nxt}, h)

    # --- Yahoo --------------------------------------------------------------
    def yahoo_error(self, status, code, desc):
        self.send_body(status, {"chart": {"result": None, "error": {"code": code,
                                                                    "description": desc}}})

    def get_yahoo(self, u, q, inj):
        sym = u.path.rsplit("/", 1)[1]
        ua = self.headers.get("User-Agent", "")
        if not ua or ua.startswith("curl/"):
            return self.send_body(429, b"Too Many Requests\r\n", None, "text/html")
        iv_names = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600,
                    "90m": 5400, "1h": 3600, "1d": 86400}
        iv = q.get("interval", "1d")
        if iv not in iv_names:
            return self.yahoo_error(400, "Bad Request", f"Invalid input - interval={iv} is not "
                                    "supported. Valid intervals: [1m, 2m, 5m, 15m, 30m, 60m, "
                                    "90m, 1h, 1d, 5d, 1wk, 1mo, 3mo]")
        step = iv_names[iv]
        p1, p2 = int(q.get("period1", "0")), int(q.get("period2", "0"))
        now = int(time.time())
        limit = {60: 30, 120: 60, 300: 60, 900: 60, 1800: 60, 3600: 730, 5400: 60}.get(step)
        if inj and inj.get("kind") == "force_422" or (limit and p1 < now - limit * 86400):
            return self.yahoo_error(422, "Unprocessable Entity", f"{iv} data not available for "
                                    f"startTime={p1} and endTime={p2}. The requested range "
                                    f"must be within the last {limit or 60} days.")
        if step == 60 and p2 - p1 > 7 * 86400:
            return self.yahoo_error(422, "Unprocessable Entity", f"1m data not available for "
                                    f"startTime={p1} and endTime={p2}. Only 7 days worth of 1m "
                                    "granularity data are allowed to be fetched per request.")
        if sym == "DELISTED":
            return self.yahoo_error(404, "Not Found", "No data found, symbol may be delisted")
        pre = q.get("includePrePost", "false") == "true"
        ts = daily_starts(p1, p2, "open") if step == 86400 else intraday_starts(
            p1, p2, step, pre, "open")
        cols = {k: [] for k in ("open", "high", "low", "close", "volume")}
        for i, t in enumerate(ts):
            v = bar_values(sym, t)
            null = self.scenario().get("nulls", True) and i % 7 == 3
            for k, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"),
                           ("volume", "v")):
                cols[k].append(None if null else v[key])
        if inj and inj.get("kind") == "wrong_type" and cols["open"]:
            cols["open"][0] = "abc"
        off = int(ny_dt(now).utcoffset().total_seconds())
        meta = {"currency": "USD", "symbol": sym, "exchangeName": "NMS",
                "fullExchangeName": "NasdaqGS", "instrumentType": "EQUITY",
                "firstTradeDate": 345479400, "regularMarketTime": now, "hasPrePostMarketData": True,
                "gmtoffset": off, "timezone": "EDT" if off == -14400 else "EST",
                "exchangeTimezoneName": "America/New_York", "regularMarketPrice": 100.0,
                "dataGranularity": iv, "range": "",
                "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd",
                                "max"]}
        result = {"meta": meta, "indicators": {"quote": [cols]}}
        if ts:
            result["timestamp"] = ts
        if step == 86400:
            result["indicators"]["adjclose"] = [{"adjclose": cols["close"]}]
        self.send_body(200, {"chart": {"result": [result], "error": None}})

    # --- Alpha Vantage -------------------------------------------------------
    def get_alphavantage(self, u, q, inj):
        scen = self.scenario()
        if q.get("apikey") != KEYS["av"]:
            return self.send_body(200, {"Error Message": "the parameter apikey is invalid or "
                                        "missing. Please claim your free API key on "
                                        "(https://www.alphavantage.co/support/#api-key). It "
                                        "should take less than 20 seconds."})
        with STATE["lock"]:
            STATE["av_count"] += 1
            count = STATE["av_count"]
        if inj and inj.get("kind") == "note":
            return self.send_body(200, {"Note": "Thank you for using Alpha Vantage! Our standard "
                                        "API call frequency is 5 calls per minute and 500 calls "
                                        "per day. Please visit https://www.alphavantage.co/"
                                        "premium/ if you would like to target a higher API "
                                        "call frequency."})
        if (inj and inj.get("kind") == "info_daily") or count > scen.get("daily_quota", 10 ** 9):
            return self.send_body(200, {"Information": "Thank you for using Alpha Vantage! Our "
                                        "standard API rate limit is 25 requests per day. Please "
                                        "subscribe to any of the premium plans at "
                                        "https://www.alphavantage.co/premium/ to instantly "
                                        "remove all daily rate limits."})
        ivs = {"1min": 60, "5min": 300, "15min": 900, "30min": 1800, "60min": 3600}
        sym, iv = q.get("symbol", ""), q.get("interval", "")
        if (q.get("function") != "TIME_SERIES_INTRADAY" or iv not in ivs or sym == "BADSYM"
                or not sym):
            return self.send_body(200, {"Error Message": "Invalid API call. Please retry or "
                                        "visit the documentation (https://www.alphavantage.co/"
                                        "documentation/) for TIME_SERIES_INTRADAY."})
        step = ivs[iv]
        y, m = (int(x) for x in q.get("month", "2024-01").split("-"))
        first = dt.date(y, m, 1)
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        t0, t1 = ny_to_utc(first, 0, 0), ny_to_utc(nxt, 0, 0)
        ext = q.get("extended_hours", "true") == "true"
        series = {}
        for t in reversed(intraday_starts(t0, t1, step, ext, "clock")):  # newest first
            v = bar_values(sym, t)
            label = ny_dt(t).strftime("%Y-%m-%d %H:%M:%S")
            series[label] = {"1. open": f"{v['o']:.4f}", "2. high": f"{v['h']:.4f}",
                             "3. low": f"{v['l']:.4f}", "4. close": f"{v['c']:.4f}",
                             "5. volume": str(v["v"])}
        if inj and inj.get("kind") == "wrong_type" and series:
            series[next(iter(series))]["1. open"] = "abc"
        meta = {"1. Information": f"Intraday ({iv}) open, high, low, close prices and volume",
                "2. Symbol": sym, "3. Last Refreshed": next(iter(series), ""), "4. Interval": iv,
                "5. Output Size": "Full size", "6. Time Zone": "US/Eastern"}
        self.send_body(200, {"Meta Data": meta, f"Time Series ({iv})": series})


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":  # --tls CERT KEY: an https server
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
