/* data.c - see data.h: a view over core/feat/dataset.h. */
#include "core/train/data.h"

#include "core/feat/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct impl {
    bf_dataset ds;
    const char **names;
} impl;

bf_status bf_split_data_open(const char *root, const char *split, bf_split_data *d)
{
    memset(d, 0, sizeof *d);
    impl *im = calloc(1, sizeof *im);
    BF_CHECK_ALLOC(im, sizeof *im);
    d->impl = im;
    bf_status st = bf_dataset_open(root, split, &im->ds);
    if (st != BF_OK)
        return st;
    const bf_dataset *ds = &im->ds;
    const bf_dataset_meta *m = &ds->meta;
    snprintf(d->split, sizeof d->split, "%s", split);
    snprintf(d->dir, sizeof d->dir, "%s", m->dir);
    snprintf(d->version, sizeof d->version, "%s", m->version);
    snprintf(d->checksum, sizeof d->checksum, "%s", m->checksum);
    d->n_rows = ds->n;
    d->F = ds->F;
    d->H = ds->H;
    d->target = m->target_index;
    d->X = ds->X;
    d->y = ds->y;
    d->sym_id = ds->sym_id;
    d->ts = ds->ts;
    if (m->n_symbols > INT32_MAX || d->target < 0 || d->target >= d->H)
        return BF_FAIL(BF_ECORRUPT, "dataset '%s': target index %d outside 0..%d or %lld symbols",
                       d->dir, d->target, d->H - 1, (long long)m->n_symbols);
    d->n_symbols = (int)m->n_symbols;
    im->names = malloc((size_t)(d->n_symbols ? d->n_symbols : 1) * sizeof *im->names);
    BF_CHECK_ALLOC(im->names, (size_t)d->n_symbols * sizeof *im->names);
    for (int i = 0; i < d->n_symbols; i++)
        im->names[i] = m->symbols[i];
    d->symbols = im->names;
    for (int64_t i = 0; i < d->n_rows; i++)
        if (d->sym_id[i] < 0 || d->sym_id[i] >= d->n_symbols)
            return BF_FAIL(BF_ECORRUPT, "dataset '%s' %s row %lld: sym_id %d outside 0..%d",
                           d->dir, split, (long long)i, d->sym_id[i], d->n_symbols - 1);
    return BF_OK;
}

void bf_split_data_free(bf_split_data *d)
{
    impl *im = d->impl;
    if (im) {
        bf_dataset_free(&im->ds);
        free(im->names);
        free(im);
    }
    memset(d, 0, sizeof *d);
}

bf_window_source bf_split_data_source(const bf_split_data *d)
{
    bf_window_source s = {.X = d->X, .y = d->y, .sym_id = d->sym_id, .n_rows = d->n_rows,
                          .F = d->F, .H = d->H, .target = d->target};
    return s;
}
