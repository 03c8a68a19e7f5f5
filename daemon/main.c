/* SPDX-License-Identifier: Apache-2.0
 * ferryd: the ferry daemon. Parses the command line, loads the config and
 * hands over to the mode asked for.
 */
#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/ferry_version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: ferryd -c FILE [--check-config | --print-events]\n"
                "\n"
                "Moves live MariaDB rows between tables with zero downtime.\n"
                "\n"
                "  -c, --config FILE   configuration file "
                "(default /etc/ferry/ferryd.conf)\n"
                "      --check-config  validate the configuration and exit "
                "(0 ok, 78 bad)\n"
                "      --print-events  run the binlog source only and write "
                "change events\n"
                "                      to stdout as JSON lines\n"
                "  -h, --help          show this help and exit\n"
                "  -V, --version       show the version and exit\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"config", required_argument, NULL, 'c'},
                {"check-config", no_argument, NULL, 'C'},
                {"print-events", no_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        int c;

        xalloc_install_jansson();
        while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
                switch (c) {
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("ferryd %s\n", FERRY_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 64; /* EX_USAGE */
                }
        }
        usage(stderr);
        return 64;
}
