/* SPDX-License-Identifier: Apache-2.0
 * Opening MariaDB connections the same way everywhere: utf8mb4, UTC
 * session time zone (TIMESTAMP values travel as UTC text), bounded
 * connect/read/write timeouts, and errors classified retriable or fatal.
 */
#ifndef FERRY_DB_CONN_H
#define FERRY_DB_CONN_H

#include "common/buf.h"
#include "common/ferry_error.h"
#include "connectors/db_tls.h"

#include <mysql.h>
#include <stdbool.h>

struct db_endpoint {
        const char *host;     /* used when socket is NULL */
        int port;
        const char *socket;
        const char *user;
        const char *password; /* never logged */
        const char *database; /* may be NULL */
        /* TLS, or NULL; not copied: it must outlive every connection
         * made from this endpoint (it lives in the config). */
        const struct db_tls *tls;
};

/**
 * @brief Connects; on failure *out is NULL.
 * @param read_timeout_s  0 = library default
 * @returns 0, FERRY_ERR_RETRY (server unreachable) or FERRY_ERR_FATAL
 *          (access denied, unknown database)
 */
int db_connect(MYSQL **out, const struct db_endpoint *ep, int read_timeout_s,
               char *errstr, size_t errstr_size) FERRY_WUR;

/* @returns FERRY_ERR_RETRY or FERRY_ERR_FATAL for a client/server error. */
int db_classify(unsigned int mysql_errno);

/* @brief Runs a statement that returns no rows. */
int db_exec(MYSQL *my, const char *sql, char *errstr,
            size_t errstr_size) FERRY_WUR;

/* @brief Runs a query returning one value (first column of first row),
 * copied into out; an empty result or NULL yields "". */
int db_query_value(MYSQL *my, const char *sql, char *out, size_t out_size,
                   char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Appends name as a backquoted identifier, doubling backquotes,
 * so a hostile table or column name cannot leave it. */
void db_put_ident(struct buf *b, const char *name);

/* @brief Appends s as a quoted, escaped string literal for my's charset. */
void db_put_quoted(MYSQL *my, struct buf *b, const char *s, size_t n);

#endif
