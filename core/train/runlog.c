/* runlog.c - see runlog.h. */
#include "core/train/runlog.h"

#include "core/base/fsutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *CSV_HEADER =
    "kind,epoch,step,samples,train_loss,val_loss,best_val_loss,lr,grad_norm,samples_per_s,"
    "elapsed_s\n";

void bf_logrow_init(bf_logrow *r, const char *kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->train_loss = r->val_loss = r->best_val_loss = r->lr = r->grad_norm = r->samples_per_s =
        r->elapsed_s = NAN;
}

/* Step of one line: CSV third field, or the jsonl "step" member. -1 = keep. */
static long long line_step(const char *line, int jsonl)
{
    if (jsonl) {
        const char *p = strstr(line, "\"step\":");
        return p ? atoll(p + 7) : -1;
    }
    const char *p = strchr(line, ',');
    p = p ? strchr(p + 1, ',') : NULL;
    if (!p || !(p[1] >= '0' && p[1] <= '9'))
        return -1; /* the header */
    return atoll(p + 1);
}

static bf_status truncate_after(const char *path, int jsonl, int64_t step)
{
    if (!bf_path_exists(path))
        return BF_OK;
    char *data = NULL;
    size_t n = 0;
    BF_TRY(bf_read_file(path, &data, &n));
    char *out = malloc(n + 1);
    if (!out) {
        free(data);
        return BF_FAIL(BF_ENOMEM, "out of memory reading '%s'", path);
    }
    size_t k = 0;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (nl) { /* an unterminated last line is a torn write: drop it */
            char save = line[len - 1];
            line[len - 1] = 0;
            long long s = line_step(line, jsonl);
            line[len - 1] = save;
            if (s <= step) {
                memcpy(out + k, line, len);
                k += len;
            }
        }
        line += len;
    }
    bf_status st = bf_write_file_atomic(path, out, k);
    free(out);
    free(data);
    return st;
}

bf_status bf_runlog_open(bf_runlog *l, const char *run_dir, int tensorboard, int64_t resume_step)
{
    memset(l, 0, sizeof *l);
    snprintf(l->dir, sizeof l->dir, "%s", run_dir);
    char csv[4200], js[4200];
    snprintf(csv, sizeof csv, "%s/metrics.csv", run_dir);
    snprintf(js, sizeof js, "%s/metrics.jsonl", run_dir);
    if (resume_step >= 0) {
        BF_TRY(truncate_after(csv, 0, resume_step));
        BF_TRY(truncate_after(js, 1, resume_step));
    }
    int fresh = !bf_path_exists(csv);
    l->csv = fopen(csv, "a");
    l->jsonl = fopen(js, "a");
    if (!l->csv || !l->jsonl) {
        bf_runlog_close(l);
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot open the metrics files in '%s'",
                             run_dir);
    }
    if (fresh)
        fputs(CSV_HEADER, l->csv);
    if (tensorboard) {
        char tbdir[4200];
        snprintf(tbdir, sizeof tbdir, "%s/tensorboard", run_dir);
        BF_TRY(bf_tfevents_open(&l->tb, tbdir));
        l->tb_on = 1;
    }
    return BF_OK;
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.9g", v);
    else
        fputs(",", f);
}

static void js_num(FILE *f, const char *k, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.9g", k, v);
    else
        fprintf(f, ",\"%s\":null", k);
}

bf_status bf_runlog_write(bf_runlog *l, const bf_logrow *r)
{
    if (!l->csv)
        return BF_OK;
    const char *names[7] = {"train_loss", "val_loss", "best_val_loss", "lr", "grad_norm",
                            "samples_per_s", "elapsed_s"};
    const double v[7] = {r->train_loss, r->val_loss, r->best_val_loss, r->lr, r->grad_norm,
                         r->samples_per_s, r->elapsed_s};
    fprintf(l->csv, "%s,%lld,%lld,%lld", r->kind, (long long)r->epoch, (long long)r->step,
            (long long)r->samples);
    for (int i = 0; i < 7; i++)
        csv_num(l->csv, v[i]);
    fputc('\n', l->csv);
    fprintf(l->jsonl, "{\"kind\":\"%s\",\"epoch\":%lld,\"step\":%lld,\"samples\":%lld", r->kind,
            (long long)r->epoch, (long long)r->step, (long long)r->samples);
    for (int i = 0; i < 7; i++)
        js_num(l->jsonl, names[i], v[i]);
    fputs("}\n", l->jsonl);
    if (fflush(l->csv) != 0 || fflush(l->jsonl) != 0)
        return BF_FAIL(BF_EIO, "cannot write the metrics files in '%s' (disk full?)", l->dir);
    if (l->tb_on) {
        char tag[96];
        for (int i = 0; i < 7; i++) {
            if (!isfinite(v[i]) || i == 6)
                continue;
            snprintf(tag, sizeof tag, "%s/%s", r->kind, names[i]);
            BF_TRY(bf_tfevents_scalar(&l->tb, tag, r->step, v[i]));
        }
        BF_TRY(bf_tfevents_flush(&l->tb));
    }
    return BF_OK;
}

void bf_runlog_close(bf_runlog *l)
{
    if (l->csv)
        fclose(l->csv);
    if (l->jsonl)
        fclose(l->jsonl);
    bf_tfevents_close(&l->tb);
    l->csv = l->jsonl = NULL;
    l->tb_on = 0;
}
