# SPDX-License-Identifier: Apache-2.0
"""Writes seed inputs for fuzz_rows: valid table maps with row images of
several column types, so the fuzzer starts from deep inside the decoder.
Run: python3 tests/fuzz/make_seeds.py tests/fuzz/corpus/fuzz_rows"""
import os
import struct
import sys


def packed(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    return b"\xfd" + struct.pack("<I", n)[:3]


def tlv(kind, body):
    return bytes([kind]) + packed(len(body)) + body


def table_map(cols):
    """cols: list of (name, type, meta bytes, signed?, collation or None)"""
    body = b"\x01\x00\x00\x00\x00\x00" + b"\x00\x00"
    body += b"\x01d\x00" + b"\x01t\x00"
    body += packed(len(cols)) + bytes(c[1] for c in cols)
    meta = b"".join(c[2] for c in cols)
    body += packed(len(meta)) + meta
    body += bytes([0xFF] * ((len(cols) + 7) // 8))  # all nullable
    numeric = [c for c in cols if c[1] in (1, 2, 3, 8, 9, 4, 5, 246)]
    bits = 0
    for i, c in enumerate(numeric):
        if not c[3]:
            bits |= 1 << (7 - i % 8) << (8 * (i // 8))
    sig = bytes((bits >> (8 * k)) & 0xFF for k in range((len(numeric) + 7) // 8))
    opt = tlv(1, sig) if numeric else b""
    chars = [c for c in cols if c[4] is not None]
    if chars:
        opt += tlv(3, b"".join(packed(c[4]) for c in chars))
    opt += tlv(4, b"".join(packed(len(c[0])) + c[0].encode() for c in cols))
    enums = [c for c in cols if c[1] == 254 and c[2][:1] == b"\xf7"]
    if enums:
        opt += tlv(6, b"".join(packed(2) + b"\x01a\x02bc" for _ in enums))
        opt += tlv(10, packed(8))
    opt += tlv(8, packed(0))
    return body + opt


def seed(cols, kind, rows):
    tm = table_map(cols)
    return struct.pack("<H", len(tm)) + tm + bytes([kind]) + rows


def main(out):
    os.makedirs(out, exist_ok=True)
    ints = [("i", 3, b"", True, None), ("u", 8, b"", False, None),
            ("s", 15, b"\x64\x00", False, 45), ("b", 252, b"\x02", False, 63)]
    row = b"\x00" + struct.pack("<i", -5) + struct.pack("<Q", 2**64 - 1)
    row += b"\x03abc" + b"\x03\x00\x00\xff\x01"
    dec = [("d", 246, b"\x0a\x02", True, None),
           ("t", 19, b"\x06", False, None),
           ("dt", 18, b"\x03", False, None),
           ("ts", 17, b"\x06", False, None),
           ("c", 254, b"\xfe\x80", False, 8),
           ("e", 254, b"\xf7\x01", False, None)]
    drow = b"\x00" + bytes.fromhex("7ffffff5fe") + bytes.fromhex("7fffff000001")
    drow += bytes.fromhex("8000000000") + b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x00\x00"
    drow += b"\x02\x80\xff" + b"\x01"
    seeds = {
        "ints_write": seed(ints, 0, row),
        "ints_update": seed(ints, 1, row + row),
        "ints_delete": seed(ints, 2, row * 3),
        "temporal": seed(dec, 0, drow),
        "nulls": seed(ints, 0, b"\x0f"),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
