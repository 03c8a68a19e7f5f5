/* SPDX-License-Identifier: Apache-2.0
 * The change-event JSON of DESIGN.md: Debezium's envelope with schemas
 * disabled (before, after, source, op, ts_ms), and the message key, a
 * JSON object of the primary-key columns in key order.
 *
 * Value encoding (every value round-trips exactly into MariaDB):
 *   integers -> numbers; BIGINT UNSIGNED above 2^63-1 -> digit string
 *   FLOAT/DOUBLE -> numbers (17 significant digits: exact)
 *   DECIMAL, dates, times, ENUM, SET, UUID, INET6, text, JSON -> strings
 *     as SELECT prints them (TIMESTAMP in UTC)
 *   binary strings, BLOB, GEOMETRY (WKB) -> base64 strings
 */
#ifndef FERRY_EVENT_JSON_H
#define FERRY_EVENT_JSON_H

#include "common/buf.h"
#include "common/ferry_error.h"
#include "transforms/event.h"

#include <jansson.h>
#include <stdint.h>

struct event_json_opts {
        const char *name;    /* source.name (the topic prefix) */
        const char *version; /* source.version */
        uint32_t server_id;  /* source.server_id */
};

/**
 * @brief Builds the envelope of a FERRY_EV_ROW event.
 * @param now_ms  the envelope's ts_ms (processing time)
 * @returns a new reference, or NULL with errstr set (text that is not
 *          UTF-8)
 */
json_t *event_json_envelope(const struct ferry_event *ev,
                            const struct event_json_opts *opts,
                            uint64_t now_ms, char *errstr,
                            size_t errstr_size);

/* @brief Builds the key object (primary-key columns), or NULL on error. */
json_t *event_json_key(const struct ferry_event *ev, char *errstr,
                       size_t errstr_size);

/* @brief Converts one value; NULL on error. */
json_t *event_json_value(const struct ferry_value *v);

/**
 * @brief Writes the envelope (or the key) as compact JSON text straight
 *        into out, byte for byte what event_json_dump(event_json_envelope())
 *        gives, about ten times faster: the hot path of every transport.
 *        jansson stays the reference (tests compare the two) and the
 *        parser on the sink side.
 * @returns 0, or FERRY_ERR_DATA (text that is not UTF-8); out may then
 *          hold a partial write, the caller truncates it.
 */
int event_json_write(const struct ferry_event *ev,
                     const struct event_json_opts *opts, uint64_t now_ms,
                     struct buf *out, char *errstr,
                     size_t errstr_size) FERRY_WUR;
int event_json_write_key(const struct ferry_event *ev, struct buf *out,
                         char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Compact, order-preserving serialisation appended to out. */
int event_json_dump(const json_t *j, struct buf *out) FERRY_WUR;

#endif
