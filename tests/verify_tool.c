/* SPDX-License-Identifier: Apache-2.0
 * Test driver for the verify engine (not installed): connects to the
 * source and target databases, runs verify_run (and verify_recheck with
 * --recheck), verify_keys (--keys, with --table) or verify_counts
 * (--counts), prints the report JSON on stdout.
 * Exit: 0 clean, 1 differences found, 2 error (message on stderr).
 *
 *   verify_tool [--socket S | --host H --port P] --user U [--password W]
 *               --src-db DB --dst-db DB --mapping FILE [--table T]
 *               [--chunk-rows N] [--max-keys N]
 *               [--recheck | --keys JSON_ARRAY_FILE | --counts]
 *
 * --keys reads a JSON array of source key objects ({"id": 5}) from the
 * file and checks only those rows of --table.
 *
 * --recheck prints the first report as one line, waits for a line on
 * stdin (so that a test can change the target meanwhile, as the stream
 * would), re-checks the differing chunks and prints the second report as
 * one line; the exit status is the second report's.
 */
#include "common/xalloc.h"
#include "connectors/db_conn.h"
#include "connectors/verify.h"
#include "transforms/mapping.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
        fprintf(stderr, "usage: verify_tool [--socket S | --host H --port P] "
                        "--user U [--password W] --src-db DB --dst-db DB "
                        "--mapping FILE [--table T] [--chunk-rows N] "
                        "[--max-keys N] [--recheck | --keys "
                        "JSON_ARRAY_FILE | --counts]\n");
}

static void print_report(const struct verify_report *rep, size_t flags)
{
        json_t *j = verify_report_json(rep);
        char *s = json_dumps(j, flags | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        fflush(stdout);
        free(s);
        json_decref(j);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"host", required_argument, NULL, 'h'},
                {"port", required_argument, NULL, 'P'},
                {"socket", required_argument, NULL, 'S'},
                {"user", required_argument, NULL, 'u'},
                {"password", required_argument, NULL, 'p'},
                {"src-db", required_argument, NULL, 's'},
                {"dst-db", required_argument, NULL, 'd'},
                {"mapping", required_argument, NULL, 'm'},
                {"table", required_argument, NULL, 't'},
                {"chunk-rows", required_argument, NULL, 'c'},
                {"max-keys", required_argument, NULL, 'k'},
                {"recheck", no_argument, NULL, 'r'},
                {"keys", required_argument, NULL, 'K'},
                {"counts", no_argument, NULL, 'C'},
                {NULL, 0, NULL, 0}};
        struct db_endpoint ep = {.host = "127.0.0.1", .port = 3306};
        struct verify_opts vo;
        const char *src_db = NULL, *dst_db = NULL, *mapfile = NULL;
        const char *keysfile = NULL;
        bool recheck = false, counts = false;
        int ch;

        xalloc_install_jansson();
        verify_opts_init(&vo);
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 'h':
                        ep.host = optarg;
                        break;
                case 'P':
                        ep.port = atoi(optarg);
                        break;
                case 'S':
                        ep.socket = optarg;
                        break;
                case 'u':
                        ep.user = optarg;
                        break;
                case 'p':
                        ep.password = optarg;
                        break;
                case 's':
                        src_db = optarg;
                        break;
                case 'd':
                        dst_db = optarg;
                        break;
                case 'm':
                        mapfile = optarg;
                        break;
                case 't':
                        vo.only_table = optarg;
                        break;
                case 'c':
                        vo.chunk_rows = strtoul(optarg, NULL, 10);
                        break;
                case 'k':
                        vo.max_keys = strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        recheck = true;
                        break;
                case 'K':
                        keysfile = optarg;
                        break;
                case 'C':
                        counts = true;
                        break;
                default:
                        usage();
                        return 2;
                }
        }
        if (!ep.user || !src_db || !dst_db || !mapfile || optind != argc ||
            (keysfile && !vo.only_table) ||
            (recheck + counts + (keysfile != NULL)) > 1) {
                usage();
                return 2;
        }

        char err[1024];
        struct mapping *m = NULL;
        MYSQL *src = NULL, *dst = NULL;
        struct verify_report *rep = NULL;
        json_t *keys = NULL;
        int rc = mapping_load(mapfile, &m, err, sizeof(err));
        if (!rc && keysfile) {
                json_error_t je;
                if (!(keys = json_load_file(keysfile, 0, &je))) {
                        snprintf(err, sizeof(err), "%s: %s", keysfile, je.text);
                        rc = FERRY_ERR_DATA;
                }
        }
        if (!rc)
                rc = db_connect(&src, &ep, 0, err, sizeof(err));
        if (!rc)
                rc = db_connect(&dst, &ep, 0, err, sizeof(err));
        if (!rc && keys)
                rc = verify_keys(m, src, src_db, dst, dst_db, vo.only_table,
                                 keys, &vo, &rep, err, sizeof(err));
        else if (!rc && counts)
                rc = verify_counts(m, src, src_db, dst, dst_db, &vo, &rep, err,
                                   sizeof(err));
        else if (!rc)
                rc = verify_run(m, src, src_db, dst, dst_db, &vo, &rep, err,
                                sizeof(err));
        if (!rc && recheck) {
                print_report(rep, JSON_COMPACT);
                char line[64];
                if (!fgets(line, sizeof(line), stdin))
                        line[0] = '\0'; /* EOF: recheck at once */
                rc = verify_recheck(rep, m, src, src_db, dst, dst_db, &vo, err,
                                    sizeof(err));
        }
        int status = 2;
        if (rc) {
                fprintf(stderr, "verify_tool: %s: %s\n", ferry_err_name(rc),
                        err);
        } else {
                print_report(rep, recheck ? JSON_COMPACT : JSON_INDENT(2));
                status = verify_report_clean(rep) ? 0 : 1;
        }
        verify_report_free(rep);
        if (src)
                mysql_close(src);
        if (dst)
                mysql_close(dst);
        mapping_free(m);
        json_decref(keys);
        return status;
}
