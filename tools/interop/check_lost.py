#!/usr/bin/python3
"""Reads a dump's declared loss back and checks it against a truth manifest with real readers.

usage: check_lost.py {libkdumpfile,drgn} DUMP TRUTH.json

DUMP is an ELF vmcore or a kdump-compressed file. The lost-ranges note (name "EFIKDUMP", type
0x54534f4c "LOST"; layout in packages/core/src/formats/lost-ranges.ts) is found in the ELF PT_NOTE
or in the kdump sub header's notes (offset_note, size_note) and decoded here; neither
libkdumpfile nor drgn exposes arbitrary notes. The reader then opens the dump and reads every
sampled truth page.

Prints one JSON object: ranges ([start, end, reason] each), lost_pages, and for the sampled pages:
inside_lost (count), inside_lost_readable (pages in a declared range the reader could still read:
must be none), outside_matched, outside_mismatched, outside_missing. Exits 0 only when the note is
there, every sampled page inside a declared range is absent, and every page outside one matches.
"""
import hashlib
import json
import struct
import sys

PAGE = 4096
NOTE_NAME = b"EFIKDUMP"
NT_LOST = 0x54534F4C
REASONS = {1: "firmware-footprint", 2: "observed-changed", 3: "dma", 4: "unreadable"}


def walk_notes(buf):
    off = 0
    while off + 12 <= len(buf):
        namesz, descsz, ntype = struct.unpack_from("<III", buf, off)
        if namesz == 0:
            break
        name = buf[off + 12:off + 12 + namesz].rstrip(b"\0")
        desc_at = off + 12 + ((namesz + 3) & ~3)
        yield name, ntype, buf[desc_at:desc_at + descsz]
        off = desc_at + ((descsz + 3) & ~3)


def notes_of(path):
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(0)
        if head[:4] == b"\x7fELF":
            ehdr = f.read(64)
            phoff, = struct.unpack_from("<Q", ehdr, 32)
            phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            out = b""
            for i in range(phnum):
                ptype, = struct.unpack_from("<I", table, i * phentsize)
                if ptype == 4:  # PT_NOTE
                    offset, = struct.unpack_from("<Q", table, i * phentsize + 8)
                    filesz, = struct.unpack_from("<Q", table, i * phentsize + 32)
                    f.seek(offset)
                    out += f.read(filesz)
            return out
        if head.startswith(b"KDUMP"):
            header = f.read(464)
            block_size, = struct.unpack_from("<i", header, 428)
            f.seek(block_size)
            sub = f.read(104)
            offset_note, size_note = struct.unpack_from("<QQ", sub, 48)
            f.seek(offset_note)
            return f.read(size_note)
    raise SystemExit(f"{path}: neither an ELF core nor a kdump-compressed file")


def lost_ranges(path):
    for name, ntype, desc in walk_notes(notes_of(path)):
        if name == NOTE_NAME and ntype == NT_LOST:
            version, count = struct.unpack_from("<II", desc, 0)
            if version != 1 or len(desc) != 8 + 24 * count:
                raise SystemExit(f"{path}: lost-ranges note version {version}, {len(desc)} bytes for {count} entries")
            ranges = []
            for i in range(count):
                start, end, reason, _ = struct.unpack_from("<QQII", desc, 8 + 24 * i)
                ranges.append([start, end, REASONS.get(reason, str(reason))])
            return ranges
    return None


def reader_for(name, path):
    if name == "libkdumpfile":
        import kdumpfile
        dump = kdumpfile.kdumpfile(path)
        return lambda paddr: bytes(dump.read(kdumpfile.KDUMP_MACHPHYSADDR, paddr, PAGE))
    import drgn
    prog = drgn.Program()
    prog.set_core_dump(path)
    return lambda paddr: prog.read(paddr, PAGE, True)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("libkdumpfile", "drgn"):
        print(__doc__, file=sys.stderr)
        return 2
    name, dump_path, truth_path = sys.argv[1:]
    with open(truth_path) as f:
        truth = json.load(f)
    ranges = lost_ranges(dump_path)
    read = reader_for(name, dump_path)
    result = {"reader": name, "ranges": ranges, "lost_pages": sum((e - s) // PAGE for s, e, _ in ranges or []),
              "inside_lost": 0, "inside_lost_readable": [], "outside_matched": 0, "outside_mismatched": [],
              "outside_missing": []}
    inside = lambda a: any(s <= a < e for s, e, _ in ranges or [])
    samples = [(p["paddr"], p["sha256"]) for p in truth["pages"]]
    samples += [(a, hashlib.sha256(bytes(PAGE)).hexdigest()) for a in truth["zeroPages"]]
    for paddr, sha in samples:
        try:
            data = read(paddr)
        except Exception:  # the reader says the page is not in the dump
            data = None
        if inside(paddr):
            result["inside_lost"] += 1
            if data is not None:
                result["inside_lost_readable"].append(paddr)
        elif data is None:
            result["outside_missing"].append(paddr)
        elif hashlib.sha256(data).hexdigest() == sha:
            result["outside_matched"] += 1
        else:
            result["outside_mismatched"].append(paddr)
    print(json.dumps(result))
    ok = ranges is not None and not result["inside_lost_readable"] and not result["outside_mismatched"] and not result["outside_missing"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
