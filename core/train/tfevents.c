/* tfevents.c - see tfevents.h. */
#define _GNU_SOURCE
#include "core/train/tfevents.h"

#include "core/base/fsutil.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

uint32_t bf_crc32c(uint32_t crc, const void *data, size_t n)
{
    static uint32_t table[256];
    static int ready = 0; /* benign race: every thread computes the same table */
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static uint32_t masked(const void *data, size_t n)
{
    uint32_t c = bf_crc32c(0, data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* protobuf encoding into a small buffer */
typedef struct pb {
    unsigned char b[1024];
    size_t n;
} pb;

static void pb_byte(pb *p, unsigned v)
{
    if (p->n < sizeof p->b)
        p->b[p->n++] = (unsigned char)v;
}
static void pb_varint(pb *p, uint64_t v)
{
    while (v >= 0x80) {
        pb_byte(p, (unsigned)(v & 0x7F) | 0x80);
        v >>= 7;
    }
    pb_byte(p, (unsigned)v);
}
static void pb_bytes(pb *p, int field, const void *data, size_t n)
{
    pb_varint(p, ((uint64_t)field << 3) | 2);
    pb_varint(p, n);
    for (size_t i = 0; i < n; i++)
        pb_byte(p, ((const unsigned char *)data)[i]);
}
static void pb_fixed(pb *p, int field, const void *le, int size)
{
    pb_varint(p, ((uint64_t)field << 3) | (size == 8 ? 1 : 5));
    for (int i = 0; i < size; i++)
        pb_byte(p, ((const unsigned char *)le)[i]);
}

static bf_status write_record(bf_tfevents *w, const pb *ev)
{
    if (ev->n >= sizeof ev->b)
        return BF_FAIL(BF_EINVAL, "tensorboard event too large (tag too long?)");
    unsigned char head[12];
    uint64_t len = ev->n;
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)(len >> (8 * i));
    uint32_t c1 = masked(head, 8);
    for (int i = 0; i < 4; i++)
        head[8 + i] = (unsigned char)(c1 >> (8 * i));
    uint32_t c2 = masked(ev->b, ev->n);
    unsigned char tail[4];
    for (int i = 0; i < 4; i++)
        tail[i] = (unsigned char)(c2 >> (8 * i));
    if (fwrite(head, 1, 12, w->f) != 12 || fwrite(ev->b, 1, ev->n, w->f) != ev->n ||
        fwrite(tail, 1, 4, w->f) != 4)
        return BF_FAIL(BF_EIO, "cannot write tensorboard events to '%s' (disk full?)", w->path);
    return BF_OK;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bf_status bf_tfevents_open(bf_tfevents *w, const char *dir)
{
    memset(w, 0, sizeof *w);
    BF_TRY(bf_mkdir_p(dir));
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%ld", dir,
             (long long)time(NULL), host, (long)getpid());
    w->f = fopen(w->path, "wb");
    if (!w->f)
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot create '%s'", w->path);
    pb ev = {.n = 0};
    double t = wall_now();
    pb_fixed(&ev, 1, &t, 8); /* the host is little-endian (x86-64, aarch64) */
    pb_bytes(&ev, 3, "brain.Event:2", 13);
    BF_TRY(write_record(w, &ev));
    return bf_tfevents_flush(w);
}

bf_status bf_tfevents_scalar(bf_tfevents *w, const char *tag, int64_t step, double value)
{
    if (!w->f)
        return BF_OK;
    pb val = {.n = 0}, sum = {.n = 0}, ev = {.n = 0};
    float fv = (float)value;
    pb_bytes(&val, 1, tag, strlen(tag));
    pb_fixed(&val, 2, &fv, 4);
    pb_bytes(&sum, 1, val.b, val.n);
    double t = wall_now();
    pb_fixed(&ev, 1, &t, 8);
    pb_varint(&ev, (2 << 3) | 0);
    pb_varint(&ev, (uint64_t)step);
    pb_bytes(&ev, 5, sum.b, sum.n);
    return write_record(w, &ev);
}

bf_status bf_tfevents_flush(bf_tfevents *w)
{
    if (w->f && fflush(w->f) != 0)
        return BF_FAIL(BF_EIO, "cannot flush '%s' (disk full?)", w->path);
    return BF_OK;
}

void bf_tfevents_close(bf_tfevents *w)
{
    if (w->f)
        fclose(w->f);
    w->f = NULL;
}
