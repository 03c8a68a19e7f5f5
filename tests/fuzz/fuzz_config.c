/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for ferryd's INI config: the input is written to a
 * temporary file and loaded with cfg_load, as ferryd --check-config would.
 * A bad file must come back as FERRY_ERR_CONFIG with a message, never a
 * crash, a leak or an out-of-bounds read. Password files it names do not
 * exist (or are not password files): that is an error like any other.
 */
#include "common/log.h"
#include "daemon/config.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char path[] = "/tmp/ferry-fuzz-config-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
                abort();
        size_t off = 0;
        while (off < size) {
                ssize_t n = write(fd, data + off, size - off);
                if (n <= 0)
                        abort();
                off += (size_t)n;
        }
        close(fd);

        struct cfg *cfg;
        char err[1024];
        int rc = cfg_load(path, &cfg, err, sizeof(err));
        unlink(path);
        if (rc == 0) {
                /* A reload against itself changes nothing. */
                char diff[512];
                if (cfg_reload_diff(cfg, cfg, diff, sizeof(diff)) != 0)
                        abort();
                cfg_free(cfg);
        } else if (cfg || !memchr(err, '\0', sizeof(err)) || !err[0]) {
                abort(); /* an error leaves no config and says why */
        }
        return 0;
}
