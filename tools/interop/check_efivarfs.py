#!/usr/bin/env python3
"""Checks that a directory has the efivarfs layout (Linux Documentation/filesystems/efivarfs.rst).

Every file is named <Name>-<lower-case GUID> and holds the variable's 32-bit little-endian
attributes followed by its data. efivarfs shows runtime variables, so BOOTSERVICE_ACCESS and
RUNTIME_ACCESS are set, APPEND_WRITE never is, and no bit outside UEFI 2.10 §8.2 appears.
Prints one JSON object; exits 1 when any file is wrong.

usage: check_efivarfs.py DIR
"""
import json
import os
import re
import struct
import sys

NAME = re.compile(r'^(.+)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$')
KNOWN = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x80
BS, RT = 0x2, 0x4


def check(directory):
    variables, problems = [], []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if not os.path.isfile(path):
            problems.append(f'{entry}: not a regular file')
            continue
        m = NAME.match(entry)
        if not m:
            problems.append(f'{entry}: name is not <Name>-<lower-case GUID>')
            continue
        with open(path, 'rb') as f:
            data = f.read()
        if len(data) < 4:
            problems.append(f'{entry}: {len(data)} bytes, fewer than the 4-byte attributes')
            continue
        (attributes,) = struct.unpack_from('<I', data, 0)
        if attributes & ~KNOWN:
            problems.append(f'{entry}: attributes 0x{attributes:x} have bits outside 0x{KNOWN:x}')
        if (attributes & (BS | RT)) != (BS | RT):
            problems.append(f'{entry}: attributes 0x{attributes:x} lack BOOTSERVICE_ACCESS|RUNTIME_ACCESS')
        try:
            m.group(1).encode('utf-16-le')
        except UnicodeEncodeError:
            problems.append(f'{entry}: name is not UCS-2')
        variables.append({'name': m.group(1), 'guid': m.group(2), 'attributes': attributes, 'size': len(data) - 4})
    return {'variables': variables, 'problems': problems}


if __name__ == '__main__':
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    result = check(sys.argv[1])
    print(json.dumps(result, indent=1))
    sys.exit(1 if result['problems'] or not result['variables'] else 0)
