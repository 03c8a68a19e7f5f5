/* SPDX-License-Identifier: Apache-2.0
 * TLS settings of a MariaDB endpoint, apart from db_conn.h so that the
 * config can hold them without pulling in the client library's headers.
 */
#ifndef FERRY_DB_TLS_H
#define FERRY_DB_TLS_H

#include <stdbool.h>

/* TLS to the server; every field NULL/false: plain connection. */
struct db_tls {
        char *ca;    /* CA bundle that signed the server's certificate */
        char *cert;  /* client certificate, for servers that ask */
        char *key;   /* its key */
        bool verify; /* check the server's name against its certificate */
};

#endif
