/* dataset_crc.h - CRC-32 checksums of dataset files.
 *
 * The value is the CRC-32 of IEEE 802.3 (what zlib.crc32 and
 * bf_file_crc32 compute), here by carry-less multiplication (VPCLMULQDQ on
 * AVX-512, else PCLMULQDQ, about 5 GB/s) where the CPU has it, else slicing
 * by 8 bytes: datasets are
 * checksummed when written (from the page cache through mmap) and verified
 * at every open. Under MPI the ranks checksum contiguous shares of a file and
 * the shares are combined (CRC-32 is linear over GF(2)).
 */
#ifndef BF_DATASET_CRC_H
#define BF_DATASET_CRC_H

#include "core/base/status.h"

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of a file's bytes. */
bf_status bf_ds_file_crc32(const char *path, uint32_t *crc);
uint32_t bf_ds_crc32(uint32_t crc, const void *data, size_t n);
/* Tests: use implementation impl (0 tables, 1 PCLMULQDQ, 2 VPCLMULQDQ with
 * AVX-512) from now on; 0 (and nothing changes) when the CPU lacks it. The
 * default is the best the CPU has. */
int bf_ds_crc32_impl(int impl);
/* CRC-32 of A followed by B from crc(A), crc(B) and len(B). */
uint32_t bf_ds_crc32_combine(uint32_t a, uint32_t b, int64_t len_b);
/* bf_ds_crc32(crc, n zero bytes) without the bytes: O(log n) */
uint32_t bf_ds_crc32_zeros(uint32_t crc, int64_t n);
/* Collective: every rank checksums a contiguous share of the file's bytes,
 * split over up to nthreads threads; the shares are combined in order, so
 * the value equals bf_ds_file_crc32. Every rank gets the CRC and the size. */
bf_status bf_ds_file_crc32_all_mt(const char *path, int nthreads, uint32_t *crc, int64_t *bytes);

#endif
