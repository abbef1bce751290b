/* cli.h - declarative flags for every subcommand, and configuration
 * precedence: flags > environment > .env file in the working directory >
 * defaults.
 *
 * A job declares a table of bf_opt (long GNU-style name without "--", type,
 * default as text, help, optional env variable, destination) and calls
 * bf_cli_parse. The environment variable of an option is `env` when given,
 * else BARFORGE_<NAME> with '-' -> '_' and upper case (--cache-dir ->
 * BARFORGE_CACHE_DIR). The .env file uses the same names (KEY=VALUE lines,
 * '#' comments, optional quotes), e.g. the seed's ALPACA_KEY_ID.
 * Errors are one line naming the flag and what was expected:
 *   barforge train: --seq-len: expected a positive integer, got 'abc'
 * Secrets (BF_OPT_SECRET) are masked in every dump.
 */
#ifndef BF_CLI_H
#define BF_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum bf_opt_type {
    BF_OPT_STR,      /* char**          any text */
    BF_OPT_SECRET,   /* char**          text, masked in dumps */
    BF_OPT_INT,      /* int*            any integer */
    BF_OPT_POSINT,   /* int*            > 0 */
    BF_OPT_NONNEG,   /* int*            >= 0 */
    BF_OPT_I64,      /* int64_t*        >= 0 */
    BF_OPT_FLOAT,    /* double*         finite */
    BF_OPT_POSFLOAT, /* double*         finite, > 0 */
    BF_OPT_NONNEGFLOAT, /* double*      finite, >= 0 */
    BF_OPT_FRAC,     /* double*         in [0, 1] */
    BF_OPT_FLAG,     /* int*            no value: presence sets 1; env/.env: 1/0/true/false */
    BF_OPT_CHOICE,   /* char**          one of `choices` (comma-separated) */
    BF_OPT_INTLIST,  /* bf_intlist*     comma-separated positive integers */
    BF_OPT_DATE,     /* int64_t*        YYYY-MM-DD or RFC 3339, UTC seconds */
} bf_opt_type;

#define BF_INTLIST_MAX 16
typedef struct bf_intlist {
    int n;
    int v[BF_INTLIST_MAX];
} bf_intlist;

typedef struct bf_opt {
    const char *name;    /* "seq-len" */
    bf_opt_type type;
    const char *def;     /* default as text; NULL = unset (STR: NULL, numbers: 0) */
    const char *help;
    void *dst;
    const char *choices; /* BF_OPT_CHOICE: "huber,mse" */
    const char *env;     /* explicit env name; NULL = BARFORGE_<NAME> */
    /* filled by the parser: where the value came from */
    const char *source;  /* "flag", "env", ".env", "default", "unset" */
    char *raw;           /* the text value used (owned by the parser) */
} bf_opt;

enum { BF_CLI_OK = 0, BF_CLI_HELP = 1, BF_CLI_ERROR = 2 };

/* Parse argv[1..] (argv[0] is the subcommand name). The common options
 * --help, --log-level, --log-json are handled here for every command.
 * On BF_CLI_ERROR the one-line message is in err (without a newline).
 * positional: optional array receiving non-flag arguments (may be NULL,
 * then positionals are an error), *npos their count, maxpos capacity. */
int bf_cli_parse(const char *cmd, const char *summary, bf_opt *opts, int nopts, int argc,
                 char **argv, char *err, size_t errn);

/* Print `barforge CMD --help` (every flag with its default and meaning). */
void bf_cli_help(FILE *f, const char *cmd, const char *summary, const bf_opt *opts, int nopts);

/* Resolved configuration as a JSON object {"flag": value, ...} with
 * secrets masked; malloc'd string. */
char *bf_cli_config_json(const bf_opt *opts, int nopts);
/* Same as "name = value (source)" lines. */
void bf_cli_dump(FILE *f, const bf_opt *opts, int nopts);

/* Free strings the parser allocated (values in dst stay valid until then). */
void bf_cli_free(bf_opt *opts, int nopts);

/* Read a .env-style file into the parser's lookup table; called by
 * bf_cli_parse with "./.env" when the file exists; exposed for tests. */
int bf_dotenv_load(const char *path, char *err, size_t errn);
const char *bf_dotenv_get(const char *key);
void bf_dotenv_clear(void);

/* Common settings every job gets from bf_cli_parse. */
extern int bf_cli_log_level;
extern int bf_cli_log_json;

#endif
