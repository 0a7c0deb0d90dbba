#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Test kexts made from a good one (tests/meson.build):
#   patch-elf.py machine IN OUT   e_machine set to EM_AARCH64 (183): a wrong-architecture kext
#   patch-elf.py truncate IN OUT  the first 200 bytes: a truncated ELF
#   patch-elf.py garbage IN OUT   text that is no ELF at all
import sys

mode, src, dst = sys.argv[1:4]
data = bytearray(open(src, 'rb').read())
if mode == 'machine':
    data[18:20] = (183).to_bytes(2, 'little')
elif mode == 'truncate':
    data = data[:200]
elif mode == 'garbage':
    data = bytearray(b'this is not a shared object\n' * 8)
else:
    sys.exit('unknown mode ' + mode)
open(dst, 'wb').write(data)
