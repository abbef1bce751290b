/* fsutil.c - see fsutil.h. */
#define _GNU_SOURCE
#include "core/base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bf_status bf_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return BF_FAIL(BF_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return bf_fail_errno(__FILE__, __LINE__, "mkdir", "cannot create directory '%s'", buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return bf_fail_errno(__FILE__, __LINE__, "mkdir", "cannot create directory '%s'", buf);
    if (!bf_is_dir(buf))
        return BF_FAIL(BF_EIO, "'%s' exists and is not a directory", buf);
    return BF_OK;
}

int bf_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int bf_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void bf_tmp_path(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s.tmp.%ld", path, (long)getpid());
}

bf_status bf_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot open '%s' to fsync", path);
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) {
        errno = e;
        return bf_fail_errno(__FILE__, __LINE__, "fsync", "fsync of '%s' failed", path);
    }
    return BF_OK;
}

bf_status bf_fsync_dir_of(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *dir = dirname(buf);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot open directory '%s'", dir);
    /* some file systems refuse fsync on directories (EINVAL): nothing to do there */
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        errno = e;
        return bf_fail_errno(__FILE__, __LINE__, "fsync", "fsync of directory '%s' failed", dir);
    }
    close(fd);
    return BF_OK;
}

bf_status bf_commit_file(const char *tmp, const char *path)
{
    BF_TRY(bf_fsync_path(tmp));
    if (rename(tmp, path) != 0)
        return bf_fail_errno(__FILE__, __LINE__, "rename", "cannot rename '%s' to '%s'", tmp, path);
    return bf_fsync_dir_of(path);
}

bf_status bf_write_file_atomic(const char *path, const void *data, size_t n)
{
    char tmp[4200];
    bf_tmp_path(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return bf_fail_errno(__FILE__, __LINE__, "open", "cannot create '%s'", tmp);
    const char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return bf_fail_errno(__FILE__, __LINE__, "write", "cannot write '%s'", tmp);
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return bf_fail_errno(__FILE__, __LINE__, "fsync", "fsync of '%s' failed", tmp);
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return bf_fail_errno(__FILE__, __LINE__, "rename", "cannot rename '%s' to '%s'", tmp, path);
    }
    return bf_fsync_dir_of(path);
}

bf_status bf_read_file(const char *path, char **data, size_t *n)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot open '%s'", path);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return BF_FAIL(BF_ENOMEM, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return BF_FAIL(BF_ENOMEM, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return BF_FAIL(BF_EIO, "read error on '%s'", path);
    }
    buf[len] = 0;
    *data = buf;
    if (n)
        *n = len;
    return BF_OK;
}

bf_status bf_symlink_atomic(const char *target, const char *link)
{
    char tmp[4200];
    bf_tmp_path(link, tmp, sizeof tmp);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return bf_fail_errno(__FILE__, __LINE__, "symlink", "cannot create link '%s' -> '%s'", tmp,
                             target);
    if (rename(tmp, link) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return bf_fail_errno(__FILE__, __LINE__, "rename", "cannot replace link '%s'", link);
    }
    return bf_fsync_dir_of(link);
}

bf_status bf_unlink_quiet(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return bf_fail_errno(__FILE__, __LINE__, "unlink", "cannot remove '%s'", path);
    return BF_OK;
}

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), table built once. */
static uint32_t g_crc_table[256];
static pthread_once_t g_crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        g_crc_table[i] = c;
    }
}

uint32_t bf_crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&g_crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = g_crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

bf_status bf_file_crc32(const char *path, uint32_t *crc)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return bf_fail_errno(__FILE__, __LINE__, "fopen", "cannot open '%s'", path);
    unsigned char buf[1 << 16];
    uint32_t c = 0;
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0)
        c = bf_crc32(c, buf, r);
    int err = ferror(f);
    fclose(f);
    if (err)
        return BF_FAIL(BF_EIO, "read error on '%s'", path);
    *crc = c;
    return BF_OK;
}
