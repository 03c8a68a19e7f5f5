/* SPDX-License-Identifier: Apache-2.0
 * MariaDB connection helpers; see db_conn.h.
 */
#include "connectors/db_conn.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <string.h>

int db_classify(unsigned int err)
{
        switch (err) {
        case ER_ACCESS_DENIED_ERROR:
        case ER_DBACCESS_DENIED_ERROR:
        case ER_BAD_DB_ERROR:
        case ER_SPECIFIC_ACCESS_DENIED_ERROR:
        case ER_TABLEACCESS_DENIED_ERROR:
        case ER_NO_SUCH_TABLE:
        case ER_PARSE_ERROR:
                return FERRY_ERR_FATAL;
        default:
                return FERRY_ERR_RETRY;
        }
}

int db_connect(MYSQL **out, const struct db_endpoint *ep, int read_timeout_s,
               char *errstr, size_t errstr_size)
{
        MYSQL *my = mysql_init(NULL);
        unsigned int connect_timeout = 10;
        unsigned int rw = read_timeout_s > 0 ? (unsigned)read_timeout_s : 0;
        bool reconnect = false;

        *out = NULL;
        if (!my) {
                snprintf(errstr, errstr_size, "mysql_init failed");
                return FERRY_ERR_FATAL;
        }
        mysql_optionsv(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
        if (rw) {
                mysql_optionsv(my, MYSQL_OPT_READ_TIMEOUT, &rw);
                mysql_optionsv(my, MYSQL_OPT_WRITE_TIMEOUT, &rw);
        }
        mysql_optionsv(my, MYSQL_OPT_RECONNECT, &reconnect);
        mysql_optionsv(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_optionsv(my, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
        const struct db_tls *tls = ep->tls;
        if (tls && (tls->ca || tls->cert || tls->key)) {
                /* Asked for TLS: a server that cannot do it is an error,
                 * never a silent fallback to plain text. */
                my_bool on = 1, verify = tls->verify;
                if (tls->ca)
                        mysql_optionsv(my, MYSQL_OPT_SSL_CA, tls->ca);
                if (tls->cert)
                        mysql_optionsv(my, MYSQL_OPT_SSL_CERT, tls->cert);
                if (tls->key)
                        mysql_optionsv(my, MYSQL_OPT_SSL_KEY, tls->key);
                mysql_optionsv(my, MYSQL_OPT_SSL_ENFORCE, &on);
                mysql_optionsv(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
        }

        if (!mysql_real_connect(my, ep->socket ? NULL : ep->host, ep->user,
                                ep->password ? ep->password : "", ep->database,
                                (unsigned)ep->port, ep->socket, 0)) {
                unsigned int e = mysql_errno(my);
                snprintf(errstr, errstr_size, "connect to %s%s%s%d as %s: %s",
                         ep->socket ? ep->socket : ep->host,
                         ep->socket ? "" : ":", "", ep->socket ? 0 : ep->port,
                         ep->user, mysql_error(my));
                mysql_close(my);
                return db_classify(e);
        }
        *out = my;
        return 0;
}

int db_exec(MYSQL *my, const char *sql, char *errstr, size_t errstr_size)
{
        if (mysql_query(my, sql)) {
                snprintf(errstr, errstr_size, "%s (query: %.200s)",
                         mysql_error(my), sql);
                return db_classify(mysql_errno(my));
        }
        /* Drain any result so the connection stays usable. */
        MYSQL_RES *res = mysql_store_result(my);
        if (res)
                mysql_free_result(res);
        return 0;
}

int db_query_value(MYSQL *my, const char *sql, char *out, size_t out_size,
                   char *errstr, size_t errstr_size)
{
        out[0] = '\0';
        if (mysql_query(my, sql)) {
                snprintf(errstr, errstr_size, "%s (query: %.200s)",
                         mysql_error(my), sql);
                return db_classify(mysql_errno(my));
        }
        MYSQL_RES *res = mysql_store_result(my);
        if (!res) {
                if (mysql_errno(my)) {
                        snprintf(errstr, errstr_size, "%s", mysql_error(my));
                        return db_classify(mysql_errno(my));
                }
                return 0;
        }
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row && row[0])
                snprintf(out, out_size, "%s", row[0]);
        mysql_free_result(res);
        return 0;
}

void db_put_ident(struct buf *b, const char *name)
{
        buf_putc(b, '`');
        for (const char *p = name; *p; p++) {
                if (*p == '`')
                        buf_putc(b, '`');
                buf_putc(b, *p);
        }
        buf_putc(b, '`');
}

void db_put_quoted(MYSQL *my, struct buf *b, const char *s, size_t n)
{
        buf_reserve(b, 2 * n + 3);
        b->data[b->len++] = '\'';
        const char *cs = mysql_character_set_name(my);
        if ((my->server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES) ||
            strncmp(cs, "utf8", 4)) {
                /* The library knows the other modes and character sets. */
                b->len += mysql_real_escape_string(my, b->data + b->len, s,
                                                   (unsigned long)n);
        } else {
                /* UTF-8 never has a quote or backslash inside a multi-byte
                 * character, so the same escapes byte by byte are exact
                 * and much cheaper (the sink quotes every value). */
                char *o = b->data + b->len;
                for (size_t i = 0; i < n; i++) {
                        char c = s[i], e = 0;
                        switch (c) {
                        case '\0':
                                e = '0';
                                break;
                        case '\n':
                                e = 'n';
                                break;
                        case '\r':
                                e = 'r';
                                break;
                        case '\\':
                                e = '\\';
                                break;
                        case '\'':
                                e = '\'';
                                break;
                        case '"':
                                e = '"';
                                break;
                        case '\032':
                                e = 'Z';
                                break;
                        default:
                                break;
                        }
                        if (e) {
                                *o++ = '\\';
                                *o++ = e;
                        } else {
                                *o++ = c;
                        }
                }
                b->len = (size_t)(o - b->data);
        }
        b->data[b->len++] = '\'';
}
