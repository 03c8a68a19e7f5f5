/* SPDX-License-Identifier: Apache-2.0
 * Parsing one Kafka change message back into what the mapping needs: the
 * Debezium-shaped value event_json.c writes (before, after, source.table,
 * op) and the primary-key object in the message key, or a cutover
 * barrier. Pure: bytes in, borrowed JSON out; every way a message can be
 * malformed is an error naming what is wrong, never a guess.
 */
#ifndef FERRY_CHANGE_MSG_H
#define FERRY_CHANGE_MSG_H

#include "common/ferry_error.h"

#include <jansson.h>
#include <stddef.h>

enum change_msg_kind { CHANGE_MSG_ROW, CHANGE_MSG_BARRIER };

struct change_msg {
        enum change_msg_kind kind;
        char op;             /* ROW: 'c', 'u', 'd' or 'r' */
        const char *table;   /* ROW: source.table */
        const char *barrier; /* BARRIER: its id */
        const char *gtid;    /* source.gtid, or NULL */
        json_t *key;         /* ROW: primary-key object */
        json_t *before;      /* ROW: object, or NULL when JSON null */
        json_t *after;       /* ROW: object, or NULL when JSON null */
        /* The parsed documents; the pointers above borrow from them. */
        json_t *key_doc;
        json_t *value_doc;
};

/**
 * @brief Parses a message with a non-empty value (tombstones, a NULL
 *        value, are the caller's to skip).
 * @param out  filled on success; release with change_msg_clear (also
 *             safe after a failure)
 * @returns 0, or FERRY_ERR_DATA with errstr saying what is malformed
 *          (bad JSON, a missing or mistyped field, an op whose images
 *          are missing)
 * @context any thread
 */
int change_msg_parse(const void *key, size_t key_len, const void *value,
                     size_t value_len, struct change_msg *out, char *errstr,
                     size_t errstr_size) FERRY_WUR;

/* @brief Releases the parsed documents; the struct is zeroed. */
void change_msg_clear(struct change_msg *m);

#endif
