#!/usr/bin/python3
"""Reads a dump's kernel through its kernel-text mapping with a real reader (libkdumpfile or drgn).

usage: check_kernel_map.py {libkdumpfile,drgn} DUMP

Takes SYMBOL(init_uts_ns), SYMBOL(_stext) and NUMBER(phys_base) from the dump's VMCOREINFO (as
the reader parsed it), reads init_uts_ns at its kernel virtual address (the reader translates it:
phys_base and the page tables at swapper_pg_dir) and the first page of _stext both virtually and
at its physical address (_stext - __START_KERNEL_map + phys_base). Prints one JSON object:
reader, phys_base (what the reader says, where it says it), sysname and release from init_uts_ns,
stext_paddr, text_equal (the two reads of _stext agree) and text_nonzero. Exits 0 when the reads
worked and agree.
"""
import json
import sys

PAGE = 4096
START_KERNEL_MAP = 0xFFFFFFFF80000000
UTS_FIELD = 65


def vmcoreinfo_lines(text):
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def libkdumpfile_open(path):
    import kdumpfile

    dump = kdumpfile.kdumpfile(path)
    dump.attr["addrxlat.ostype"] = "linux"
    info = vmcoreinfo_lines(bytes(dump.attr["linux.vmcoreinfo.raw"]).decode("ascii"))
    reader_phys_base = int(dump.attr["linux.phys_base"])

    def kv(addr, n):
        return bytes(dump.read(kdumpfile.KDUMP_KVADDR, addr, n))

    def phys(addr, n):
        return bytes(dump.read(kdumpfile.KDUMP_MACHPHYSADDR, addr, n))

    return info, reader_phys_base, kv, phys


def drgn_open(path):
    import drgn

    prog = drgn.Program()
    prog.set_core_dump(path)
    if not prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        raise RuntimeError("drgn does not see a Linux kernel core")
    # drgn parses VMCOREINFO itself but does not expose the text: read the lines from the file.
    info = vmcoreinfo_lines(_vmcoreinfo_text(path))

    def kv(addr, n):
        return prog.read(addr, n)

    def phys(addr, n):
        return prog.read(addr, n, True)

    return info, None, kv, phys


def _vmcoreinfo_text(path):
    """The VMCOREINFO text, found the simple way (ELF and kdump-compressed keep it uncompressed near the start)."""
    with open(path, "rb") as f:
        head = f.read(64 << 20)
    at = head.find(b"OSRELEASE=")
    if at < 0:
        raise RuntimeError("no VMCOREINFO text in the first 64 MiB of the dump")
    end = head.find(b"\0", at)
    return head[at:end].decode("ascii")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("libkdumpfile", "drgn"):
        print(__doc__, file=sys.stderr)
        return 2
    reader, path = sys.argv[1:]
    info, reader_phys_base, kv, phys = (libkdumpfile_open if reader == "libkdumpfile" else drgn_open)(path)
    phys_base = int(info["NUMBER(phys_base)"], 10)
    uts_vaddr = int(info["SYMBOL(init_uts_ns)"], 16) + int(info.get("OFFSET(uts_namespace.name)", "0"), 10)
    stext = int(info["SYMBOL(_stext)"], 16)
    uts = kv(uts_vaddr, 6 * UTS_FIELD)
    field = lambda i: uts[i * UTS_FIELD:(i + 1) * UTS_FIELD].split(b"\0", 1)[0].decode("ascii", "replace")
    stext_paddr = stext - START_KERNEL_MAP + phys_base
    by_virt = kv(stext, PAGE)
    by_phys = phys(stext_paddr, PAGE)
    result = {
        "reader": reader,
        "vmcoreinfo_phys_base": phys_base,
        "reader_phys_base": reader_phys_base,
        "sysname": field(0),
        "release": field(2),
        "stext_paddr": stext_paddr,
        "text_equal": by_virt == by_phys,
        "text_nonzero": by_virt != bytes(PAGE),
    }
    print(json.dumps(result))
    return 0 if result["text_equal"] and result["text_nonzero"] and result["sysname"] == "Linux" else 1


if __name__ == "__main__":
    sys.exit(main())
