/* SPDX-License-Identifier: Apache-2.0
 * Names for the project error codes, for logs and control replies.
 */
#include "common/ferry_error.h"

const char *ferry_err_name(int err)
{
        switch (err) {
        case FERRY_OK:
                return "ok";
        case FERRY_ERR_RETRY:
                return "retry";
        case FERRY_ERR_FATAL:
                return "fatal";
        case FERRY_ERR_CONFIG:
                return "config";
        case FERRY_ERR_DATA:
                return "data";
        case FERRY_ERR_SCHEMA:
                return "schema";
        case FERRY_ERR_STOP:
                return "stop";
        case FERRY_ERR_CONFLICT:
                return "conflict";
        default:
                return "unknown";
        }
}
