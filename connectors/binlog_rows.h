/* SPDX-License-Identifier: Apache-2.0
 * Row-image decoding: turns the row data of a WRITE/UPDATE/DELETE_ROWS
 * event into typed change events, using only the TABLE_MAP (binlog_table)
 * to know each column's layout. Every read is bounds-checked; bad bytes
 * come back as FERRY_ERR_DATA naming the table, column and offset.
 */
#ifndef FERRY_BINLOG_ROWS_H
#define FERRY_BINLOG_ROWS_H

#include "common/buf.h"
#include "common/ferry_error.h"
#include "connectors/binlog_table.h"
#include "transforms/event.h"

#include <stddef.h>
#include <stdint.h>

enum binlog_rows_kind { BINLOG_ROWS_WRITE, BINLOG_ROWS_UPDATE, BINLOG_ROWS_DELETE };

/* The framing Connector/C already split off a rows event. */
struct binlog_rows {
        enum binlog_rows_kind kind;
        uint32_t ncols;          /* columns in the image */
        const uint8_t *present;  /* columns present (before image) */
        const uint8_t *present_after; /* UPDATE: after image, else NULL */
        const uint8_t *data;     /* the row images */
        size_t len;
};

/* Receives each decoded change; takes ownership of ev.
 * @returns 0 to go on, non-zero to stop decoding (returned as is). */
typedef int(binlog_row_fn)(struct ferry_event *ev, void *opaque);

/**
 * @brief Decodes every row of a rows event into FERRY_EV_ROW events.
 *        An UPDATE that changes the primary key becomes a delete of the
 *        old key followed by a create of the new one.
 * @param pos  position template copied into every event; pos->row is
 *             advanced per emitted event and left at the next index
 * @param scratch  reusable working buffer (caller owns)
 * @returns 0, FERRY_ERR_DATA, FERRY_ERR_SCHEMA (row image not FULL), or
 *          what emit returned
 * @context any (pure; emit runs in the caller's thread)
 */
int binlog_rows_decode(const struct binlog_table *t,
                       const struct binlog_rows *rows, struct ferry_pos *pos,
                       struct buf *scratch, binlog_row_fn *emit,
                       void *opaque, char *errstr,
                       size_t errstr_size) FERRY_WUR;

#endif
