/* SPDX-License-Identifier: Apache-2.0
 * MariaDB GTIDs (domain-server-sequence) and GTID positions: one GTID
 * per replication domain, the form @@gtid_binlog_pos and
 * @slave_connect_state use ("0-1-100,1-2-5").
 */
#ifndef FERRY_GTID_H
#define FERRY_GTID_H

#include "common/buf.h"
#include "common/ferry_error.h"

#include <stddef.h>
#include <stdint.h>

struct gtid {
        uint32_t domain;
        uint32_t server;
        uint64_t seq;
};

struct gtid_pos {
        size_t n;
        struct gtid *v; /* sorted by domain, one entry per domain */
};

void gtid_pos_init(struct gtid_pos *pos);
void gtid_pos_free(struct gtid_pos *pos);
void gtid_pos_copy(struct gtid_pos *dst, const struct gtid_pos *src);
/* @brief Parses "D-S-N[,D-S-N...]" (empty string: empty position). */
int gtid_pos_parse(struct gtid_pos *pos, const char *text, char *errstr,
                   size_t errstr_size) FERRY_WUR;
int gtid_parse(struct gtid *g, const char *text) FERRY_WUR;
/* @brief Records g as the latest GTID of its domain. */
void gtid_pos_update(struct gtid_pos *pos, const struct gtid *g);
void gtid_pos_format(const struct gtid_pos *pos, struct buf *out);
/* Formats "D-S-N" into a buffer of at least GTID_STR_MAX bytes. */
#define GTID_STR_MAX 48
char *gtid_format(const struct gtid *g, char *out);

#endif
