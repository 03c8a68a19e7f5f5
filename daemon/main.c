/* SPDX-License-Identifier: Apache-2.0
 * ferryd: the ferry daemon. Parses the command line, loads the config and
 * hands over to the mode asked for.
 */
#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/config.h"
#include "daemon/ferry_version.h"
#include "daemon/print_events.h"
#include "daemon/reverse.h"
#include "daemon/service.h"

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: ferryd [-c FILE] [--check-config | --print-events]\n"
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

#define EX_USAGE 64
#define EX_CONFIG 78

static atomic_bool stop_requested;

static void on_stop_signal(int sig)
{
        (void)sig;
        atomic_store(&stop_requested, true);
}

static void install_stop_signals(void)
{
        struct sigaction sa = {.sa_handler = on_stop_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
        const char *config_path = "/etc/ferry/ferryd.conf";
        bool check_only = false, print_events = false;
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
                case 'c':
                        config_path = optarg;
                        break;
                case 'C':
                        check_only = true;
                        break;
                case 'P':
                        print_events = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("ferryd %s\n", FERRY_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "ferryd: unexpected argument '%s'\n",
                        argv[optind]);
                usage(stderr);
                return EX_USAGE;
        }

        struct cfg *cfg;
        char err[1024];
        if (cfg_load(config_path, &cfg, err, sizeof(err))) {
                fprintf(stderr, "ferryd: %s\n", err);
                return EX_CONFIG;
        }
        log_set_level((enum log_level)cfg->daemon.log_level);
        if (check_only && reverse_check(cfg, err, sizeof(err))) {
                fprintf(stderr, "ferryd: %s\n", err);
                cfg_free(cfg);
                return EX_CONFIG;
        }
        if (check_only) {
                printf("%s: ok\n", config_path);
                cfg_free(cfg);
                return 0;
        }

        int rc;
        if (print_events) {
                install_stop_signals();
                rc = print_events_run(cfg, &stop_requested);
        } else {
                rc = service_run(cfg);
        }
        cfg_free(cfg);
        return rc;
}
