/* fsutil.h - file-system helpers for crash-safe outputs.
 *
 * The commit protocol for every file barforge publishes (cache, datasets,
 * checkpoints, JSON): write <path>.tmp.<pid>, fsync it, rename over <path>,
 * fsync the directory. A crash leaves the old file or the new one.
 */
#ifndef BF_FSUTIL_H
#define BF_FSUTIL_H

#include "core/base/status.h"

#include <stddef.h>
#include <stdint.h>

bf_status bf_mkdir_p(const char *path);
int bf_path_exists(const char *path);
int bf_is_dir(const char *path);
/* "<path>.tmp.<pid>" into buf */
void bf_tmp_path(const char *path, char *buf, size_t n);
bf_status bf_fsync_path(const char *path);
bf_status bf_fsync_dir_of(const char *path);
/* fsync tmp, rename tmp -> path, fsync the directory */
bf_status bf_commit_file(const char *tmp, const char *path);
/* write a whole buffer atomically (temp + fsync + rename + dir fsync) */
bf_status bf_write_file_atomic(const char *path, const void *data, size_t n);
/* read a whole file into a malloc'd, NUL-terminated buffer */
bf_status bf_read_file(const char *path, char **data, size_t *n);
/* atomically point symlink `link` at `target` (symlink to temp name + rename) */
bf_status bf_symlink_atomic(const char *target, const char *link);
/* remove a file if it exists */
bf_status bf_unlink_quiet(const char *path);
/* CRC-32C style checksum helpers (streaming): used for file checksums */
uint32_t bf_crc32(uint32_t crc, const void *data, size_t n);
/* checksum of a whole file (crc32, hex into out[9]) */
bf_status bf_file_crc32(const char *path, uint32_t *crc);

#endif
