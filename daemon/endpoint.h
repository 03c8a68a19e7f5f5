/* SPDX-License-Identifier: Apache-2.0
 * A configured server as the connectors want it.
 */
#ifndef FERRY_ENDPOINT_H
#define FERRY_ENDPOINT_H

#include "connectors/db_conn.h"
#include "daemon/config.h"

static inline struct db_endpoint cfg_endpoint(const struct cfg_db *db)
{
        return (struct db_endpoint){.host = db->host,
                                    .port = db->port,
                                    .socket = db->socket,
                                    .user = db->user,
                                    .password = db->password,
                                    .database = db->database,
                                    .tls = &db->tls};
}

#endif
