/* SPDX-License-Identifier: Apache-2.0
 * Base64 encode/decode; see base64.h.
 */
#include "common/base64.h"

static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const uint8_t *in, size_t len, struct buf *out)
{
        buf_reserve(out, (len + 2) / 3 * 4);
        char *o = out->data + out->len;
        size_t i = 0;
        for (; i + 3 <= len; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                             in[i + 2];
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = alphabet[(v >> 6) & 63];
                *o++ = alphabet[v & 63];
        }
        if (i < len) {
                uint32_t v = (uint32_t)in[i] << 16;
                if (i + 1 < len)
                        v |= (uint32_t)in[i + 1] << 8;
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
                *o++ = '=';
        }
        out->len = (size_t)(o - out->data);
}

static int value_of(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *text, size_t len, struct buf *out)
{
        if (len % 4)
                return -1;
        buf_reserve(out, len / 4 * 3);
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                int pad = 0;
                for (int k = 0; k < 4; k++) {
                        char c = text[i + k];
                        if (c == '=' && i + 4 == len && k >= 2) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        if (pad || (v[k] = value_of(c)) < 0)
                                return -1;
                }
                uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                             (uint32_t)v[2] << 6 | (uint32_t)v[3];
                out->data[out->len++] = (char)(x >> 16);
                if (pad < 2)
                        out->data[out->len++] = (char)(x >> 8);
                if (pad < 1)
                        out->data[out->len++] = (char)x;
        }
        return 0;
}
