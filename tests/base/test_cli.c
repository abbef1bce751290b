/* test_cli.c - flag parsing, messages for bad input, and configuration
 * precedence flags > environment > .env > defaults, with secrets masked. */
#define _GNU_SOURCE
#include "jobs/cli.h"
#include "test_util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

static int seq_len, batch, use_amp;
static double lr, frac;
static char *arch, *cache_dir, *key, *secret, *name;
static bf_intlist horizons;
static int64_t start;

static bf_opt g_opts[] = {
    {.name = "seq-len", .type = BF_OPT_POSINT, .def = "64", .help = "window", .dst = &seq_len},
    {.name = "batch-size", .type = BF_OPT_POSINT, .def = "128", .help = "batch", .dst = &batch},
    {.name = "lr", .type = BF_OPT_POSFLOAT, .def = "3e-4", .help = "lr", .dst = &lr},
    {.name = "train-frac", .type = BF_OPT_FRAC, .def = "0.7", .help = "f", .dst = &frac},
    {.name = "use-amp", .type = BF_OPT_FLAG, .def = "0", .help = "amp", .dst = &use_amp},
    {.name = "arch", .type = BF_OPT_CHOICE, .def = "patchtst", .help = "arch", .dst = &arch, .choices = "patchtst,baseline"},
    {.name = "cache-dir", .type = BF_OPT_STR, .def = "data/cache", .help = "cache", .dst = &cache_dir},
    {.name = "horizons", .type = BF_OPT_INTLIST, .def = "1,4,8", .help = "h", .dst = &horizons},
    {.name = "start", .type = BF_OPT_DATE, .def = "2024-01-02", .help = "start", .dst = &start},
    {.name = "alpaca-key-id", .type = BF_OPT_SECRET, .help = "key", .dst = &key, .env = "ALPACA_KEY_ID"},
    {.name = "alpaca-secret-key", .type = BF_OPT_SECRET, .help = "secret", .dst = &secret, .env = "ALPACA_SECRET_KEY"},
    {.name = "run-name", .type = BF_OPT_STR, .help = "name", .dst = &name},
};
#define NOPTS (int)(sizeof g_opts / sizeof g_opts[0])

static int parse(char *err, size_t n, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    argv[0] = "train";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    bf_cli_free(g_opts, NOPTS);
    return bf_cli_parse("train", "test", g_opts, NOPTS, argc, argv, err, n);
}

static void expect_error(const char *want, int argc, ...)
{
    char *argv[32];
    char err[512];
    va_list ap;
    va_start(ap, argc);
    argv[0] = "train";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    bf_cli_free(g_opts, NOPTS);
    int rc = bf_cli_parse("train", "test", g_opts, NOPTS, argc, argv, err, sizeof err);
    T_CHECK(rc == BF_CLI_ERROR, "accepted (rc %d), wanted error '%s'", rc, want);
    T_EQ_S(err, want);
}

int main(void)
{
    char dir[] = "/tmp/bf_test_cli_XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0)
        return 1;
    FILE *f = fopen(".env", "w");
    fprintf(f, "# provider keys\nALPACA_KEY_ID=AKFROMDOTENV\nexport ALPACA_SECRET_KEY=\"s3cr3t-dotenv\"\n"
               "BARFORGE_BATCH_SIZE=256\nBARFORGE_SEQ_LEN=32\nBARFORGE_RUN_NAME=from-dotenv # comment\n");
    fclose(f);
    unsetenv("BARFORGE_SEQ_LEN");
    unsetenv("BARFORGE_BATCH_SIZE");
    unsetenv("ALPACA_KEY_ID");
    unsetenv("ALPACA_SECRET_KEY");
    setenv("BARFORGE_LR", "0.001", 1);       /* env beats default */
    setenv("BARFORGE_SEQ_LEN", "48", 1);      /* env beats .env */
    char err[512];

    /* defaults, .env, env, flags */
    int rc = parse(err, sizeof err, 3, "--seq-len", "16");
    T_CHECK(rc == BF_CLI_OK, "parse failed: %s", err);
    T_EQ_I(seq_len, 16);           /* flag > env > .env */
    T_EQ_I(batch, 256);            /* .env > default */
    T_NEAR(lr, 0.001, 1e-15);      /* env > default */
    T_EQ_S(cache_dir, "data/cache"); /* default */
    T_EQ_S(key, "AKFROMDOTENV");
    T_EQ_S(secret, "s3cr3t-dotenv");
    T_EQ_S(name, "from-dotenv");
    T_EQ_S(g_opts[0].source, "flag");
    T_EQ_S(g_opts[1].source, ".env");
    T_EQ_S(g_opts[2].source, "env");
    T_EQ_S(g_opts[6].source, "default");
    T_EQ_I(horizons.n, 3);
    T_EQ_I(horizons.v[2], 8);
    T_EQ_I(start, 1704153600);

    rc = parse(err, sizeof err, 1);
    T_EQ_I(seq_len, 48); /* env > .env without a flag */

    setenv("ALPACA_KEY_ID", "AKFROMENV", 1);
    rc = parse(err, sizeof err, 8, "--use-amp", "--arch", "baseline", "--horizons=2,4",
               "--alpaca-secret-key", "flag-secret", "--start=2024-03-01T14:30:00Z");
    T_CHECK(rc == BF_CLI_OK, "parse failed: %s", err);
    T_EQ_I(use_amp, 1);
    T_EQ_S(arch, "baseline");
    T_EQ_I(horizons.n, 2);
    T_EQ_S(key, "AKFROMENV");
    T_EQ_S(secret, "flag-secret");

    /* secrets never appear in dumps */
    char *js = bf_cli_config_json(g_opts, NOPTS);
    T_CHECK(js && !strstr(js, "flag-secret") && !strstr(js, "AKFROMENV"), "secret in json: %s", js);
    T_CONTAINS(js, "\"alpaca-secret-key\":\"****\"");
    T_CONTAINS(js, "\"seq-len\":48");
    T_CONTAINS(js, "\"horizons\":[2,4]");
    T_CONTAINS(js, "\"use-amp\":true");
    free(js);
    char *dump = NULL;
    size_t dn = 0;
    FILE *m = open_memstream(&dump, &dn);
    bf_cli_dump(m, g_opts, NOPTS);
    fclose(m);
    T_CHECK(!strstr(dump, "flag-secret") && !strstr(dump, "AKFROMENV"), "secret in dump:\n%s", dump);
    free(dump);

    /* bad input: one line naming the flag and what was expected */
    expect_error("barforge train: --seq-len: expected a positive integer, got 'abc'", 3, "--seq-len", "abc");
    expect_error("barforge train: --seq-len: expected a positive integer, got '0'", 3, "--seq-len", "0");
    expect_error("barforge train: --seq-len: expected a positive integer, got '12x'", 2, "--seq-len=12x");
    expect_error("barforge train: --seq-len: missing value (expected a positive integer)", 2, "--seq-len");
    expect_error("barforge train: --lr: expected a positive number, got 'nan'", 3, "--lr", "nan");
    expect_error("barforge train: --train-frac: expected a number between 0 and 1, got '1.5'", 3, "--train-frac", "1.5");
    expect_error("barforge train: --arch: expected one of {patchtst,baseline}, got 'lstm'", 3, "--arch", "lstm");
    expect_error("barforge train: --horizons: expected a comma-separated list of positive integers, got '1,,4'", 3, "--horizons", "1,,4");
    expect_error("barforge train: --start: expected a date YYYY-MM-DD or an RFC 3339 time, got '2024-02-30'", 3, "--start", "2024-02-30");
    expect_error("barforge train: unknown flag '--seq_len' (see barforge train --help)", 3, "--seq_len", "4");
    expect_error("barforge train: unexpected argument 'extra' (flags are --name value; see barforge train --help)", 2, "extra");
    expect_error("barforge train: --log-level: expected debug, info, warn, error or quiet, got 'loud'", 3, "--log-level", "loud");
    setenv("BARFORGE_BATCH_SIZE", "-3", 1);
    expect_error("barforge train: BARFORGE_BATCH_SIZE (from the environment, for --batch-size): expected a positive integer, got '-3'", 1);
    unsetenv("BARFORGE_BATCH_SIZE");

    bf_cli_free(g_opts, NOPTS);
    bf_dotenv_clear();
    unlink(".env");
    if (chdir("/") == 0)
        rmdir(dir);
    return bf_test_done("test_cli");
}
