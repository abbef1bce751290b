/* netprov.h - what the three network providers (alpaca, yahoo, alphavantage)
 * share: base URL and HTTP client set-up from the provider config, New York
 * local time, the regular-session filter, strict number reading, and the
 * wire-format parsers (declared here so tests can feed them bodies directly).
 *
 * Sessions and the bar grid are calendar.h's: a bar is kept when its start
 * is a grid point (open + k * interval) inside the session window asked for
 * (regular 09:30-16:00, or 13:00 on early closes; extended 04:00-20:00).
 * Providers whose hourly bars sit on the clock hour (Alpaca, Alpha Vantage)
 * are fetched at 30 minutes and summed onto the 09:30 grid (bf_np_regrid),
 * so an hourly bar never mixes pre-market trades into the 09:30 bar.
 */
#ifndef BF_NETPROV_H
#define BF_NETPROV_H

#include "core/base/timeutil.h"
#include "core/data/http.h"
#include "core/data/provider.h"

#include <stddef.h>
#include <stdint.h>

/* "YYYY-MM-DD" of the New York date of utc (buf >= 11) */
void bf_np_ny_date(int64_t utc, char *buf, int n);

/* --- shared provider plumbing --------------------------------------------- */

/* Strict numbers: a JSON number (finite), or a whole string like "185.2000". */
struct cJSON;
int bf_np_json_number(const struct cJSON *item, double *out);
int bf_np_str_number(const char *s, double *out);

/* base URL: cfg value, else the environment variable env, else dflt; must be
 * http:// or https://; trailing '/' removed. BF_EINVAL naming the source. */
bf_status bf_np_base_url(const char *cfg_value, const char *env, const char *dflt, char *out,
                         size_t cap);
/* An HTTP client set up from cfg: retries (0: 5, < 0: none), backoff base,
 * limiter; max_wait_s from BARFORGE_HTTP_MAX_WAIT_S when set (tests). */
bf_status bf_np_http_client(const bf_provider_config *cfg, const char *what, bf_ratelimit *limiter,
                            int follow_redirects, bf_http_client **out);

/* After parsing. With ny set (a New York listing): daily bars move to the
 * session open of their New York date, and bars off the calendar grid or
 * outside the session window (regular, or extended when extended is set) are
 * dropped (counted in *off_grid, may be NULL). In every case rows outside
 * [start, end) and bars not finished at now are dropped; then the series is
 * sorted and unique. */
bf_status bf_np_finish(bf_bars *b, int interval_s, int64_t start, int64_t end, int extended, int ny,
                       int64_t now, int64_t *off_grid);
/* Sum a finished series (sorted, on the grid of a finer interval) onto the
 * grid of to_s: open of the first bar, max high, min low, close of the last,
 * summed volume and trades (-1 when any is unknown), volume-weighted vwap
 * (NaN when any is unknown). Only grid bars whose whole span lies in
 * [start, end) and ended by now are kept. */
bf_status bf_np_regrid(bf_bars *b, int to_s, int extended, int64_t start, int64_t end, int64_t now);

/* Set a per-symbol error (message redacted with the client's secrets). */
void bf_np_symbol_error(const bf_http_client *c, bf_status *st, char *errmsg, bf_status code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* --- wire formats ---------------------------------------------------------- */

/* Alpaca /v2/stocks/bars page. Bars of symbols[i] are appended to out[i]
 * (symbols not asked for are ignored). A symbol whose bars do not parse gets
 * st[i] = BF_ECORRUPT and errmsg[i] (first error kept; later bars of that
 * symbol ignored). next_token gets next_page_token, "" when absent, null or
 * empty. BF_ECORRUPT with err when the page is not the expected object. */
bf_status bf_alpaca_parse_page(const char *body, size_t len, const char *const *symbols, int nsym,
                               bf_bars *out, bf_status *st, char (*errmsg)[BF_ERRMSG_MAX],
                               char *next_token, size_t token_cap, char *err, size_t errcap);

/* Yahoo v8 chart answer (also the chart.error bodies of 4xx answers).
 * Rows with any null price are skipped; a null volume reads 0. Daily bars of a
 * New York exchange are moved to the session open of their New York date;
 * others keep Yahoo's timestamp. is_ny says whether exchangeTimezoneName is
 * America/New_York. chart.error: "Not Found" -> BF_ENODATA, "Unprocessable
 * Entity" and "Bad Request" -> BF_EINVAL, other -> BF_EHTTP, with Yahoo's
 * description in err. Wrong shapes or types -> BF_ECORRUPT. */
bf_status bf_yahoo_parse_chart(const char *body, size_t len, int interval_s, bf_bars *out,
                               int *is_ny, char *err, size_t errcap);

/* Alpha Vantage TIME_SERIES_INTRADAY body. BF_OK: bars appended to out
 * (naive US/Eastern labels of the bar start converted to UTC).
 * Otherwise: "Note"/"Information" bodies -> *throttled = 1 (per-minute or
 * per-second pacing, retry later) or BF_EQUOTA (daily limit), BF_EAUTH
 * (premium-only feature, bad key); "Error Message" -> BF_ENOTFOUND (invalid
 * call, usually an unknown symbol) or BF_EAUTH (apikey); a missing or
 * malformed "Time Series (<interval>)" -> BF_ECORRUPT; msg says which. */
bf_status bf_av_parse_body(const char *body, size_t len, int interval_s, bf_bars *out,
                           int *throttled, char *msg, size_t msgcap);

#endif
