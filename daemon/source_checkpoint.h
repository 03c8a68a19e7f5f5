/* SPDX-License-Identifier: Apache-2.0
 * The source role's checkpoint in Kafka mode: <state_dir>/
 * source-checkpoint.json, {"gtid": "0-1-100", "snapshot": {"<table>":
 * "<position as in the MARK events>"}}. It only ever names a position
 * whose messages Kafka has acknowledged, so a restart from it repeats
 * changes but never skips one. Written atomically: a crash leaves the
 * old file or the new one, never a torn one.
 */
#ifndef FERRY_SOURCE_CHECKPOINT_H
#define FERRY_SOURCE_CHECKPOINT_H

#include "common/buf.h"
#include "common/ferry_error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SOURCE_CHECKPOINT_FILE "source-checkpoint.json"

/**
 * @brief Reads the checkpoint.
 * @param gtid      receives a new string the caller frees ("" possible)
 * @param snapshot  receives a new reference to the table -> position
 *                  object (empty when the file has none)
 * @returns 0 (found), FERRY_ERR_STOP when there is no file yet (first
 *          start), FERRY_ERR_FATAL when it is unreadable or malformed
 *          (an operator must look: guessing could skip changes)
 * @context any
 */
int source_checkpoint_read(const char *state_dir, char **gtid,
                           json_t **snapshot, char *errstr,
                           size_t errstr_size) FERRY_WUR;

/* @brief Appends the checkpoint JSON text for gtid and snapshot (may be
 * NULL) to out. */
void source_checkpoint_format(const char *gtid, const json_t *snapshot,
                              struct buf *out);

/**
 * @brief Replaces the checkpoint with text: writes a temporary file,
 *        fsyncs it, renames it over the old one and fsyncs the
 *        directory. Creates state_dir (one level) when missing.
 * @returns 0 or FERRY_ERR_FATAL (disk full, permissions) with errstr
 * @context any; one writer at a time
 */
int source_checkpoint_write(const char *state_dir, const char *text,
                            char *errstr, size_t errstr_size) FERRY_WUR;

#endif
