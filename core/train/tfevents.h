/* tfevents.h - a minimal TensorBoard event-file writer for scalars.
 *
 * File: <dir>/events.out.tfevents.<unix seconds>.<host>.<pid>, a sequence of
 * TFRecords:
 *   uint64 length (little-endian) | uint32 masked_crc32c(length bytes)
 *   | data[length] | uint32 masked_crc32c(data)
 * masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8, c = CRC-32C.
 * data is an Event protobuf, hand-encoded:
 *   Event { double wall_time = 1; int64 step = 2; string file_version = 3;
 *           Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value { string tag = 1; float simple_value = 2; }
 * The first record carries file_version "brain.Event:2"; each scalar is one
 * Event with one Value. Readable by tensorboard's EventAccumulator.
 */
#ifndef BF_TRAIN_TFEVENTS_H
#define BF_TRAIN_TFEVENTS_H

#include "core/base/status.h"

#include <stdint.h>
#include <stdio.h>

typedef struct bf_tfevents {
    FILE *f;
    char path[4096];
} bf_tfevents;

/* Create the directory if needed and a new event file in it. */
bf_status bf_tfevents_open(bf_tfevents *w, const char *dir);
bf_status bf_tfevents_scalar(bf_tfevents *w, const char *tag, int64_t step, double value);
bf_status bf_tfevents_flush(bf_tfevents *w);
void bf_tfevents_close(bf_tfevents *w);

/* CRC-32C (Castagnoli), exposed for tests. */
uint32_t bf_crc32c(uint32_t crc, const void *data, size_t n);

#endif
