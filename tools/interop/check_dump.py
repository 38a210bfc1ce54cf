#!/usr/bin/python3
"""Reads a dump with a real reader (libkdumpfile or drgn) and compares it with a truth manifest.

usage: check_dump.py {libkdumpfile,drgn} DUMP TRUTH.json

Prints one JSON object: reader, checked, matched, mismatched (physical addresses), missing,
excluded_present, and what the reader says about the dump (VMCOREINFO OSRELEASE). Exits 0 only
when every sampled page matches, every zero page reads as zeros and no excluded page is readable.
"""
import hashlib
import json
import sys

PAGE = 4096


def libkdumpfile_reader(path):
    import kdumpfile

    dump = kdumpfile.kdumpfile(path)
    info = {}
    try:
        info["osrelease"] = str(dump.attr["linux.uts.release"])
    except Exception:  # attribute name differs between versions; informational only
        pass

    def read(paddr):
        return bytes(dump.read(kdumpfile.KDUMP_MACHPHYSADDR, paddr, PAGE))

    return read, info


def drgn_reader(path):
    import drgn

    prog = drgn.Program()
    prog.set_core_dump(path)
    info = {"flags": str(prog.flags)}

    def read(paddr):
        return prog.read(paddr, PAGE, True)

    return read, info


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("libkdumpfile", "drgn"):
        print(__doc__, file=sys.stderr)
        return 2
    reader_name, dump_path, truth_path = sys.argv[1:]
    with open(truth_path) as f:
        truth = json.load(f)
    read, info = (libkdumpfile_reader if reader_name == "libkdumpfile" else drgn_reader)(dump_path)
    result = {"reader": reader_name, "info": info, "checked": 0, "matched": 0,
              "mismatched": [], "missing": [], "excluded_present": []}
    for page in truth["pages"]:
        result["checked"] += 1
        try:
            data = read(page["paddr"])
        except Exception as e:  # the reader says the page is not in the dump
            result["missing"].append([page["paddr"], str(e)])
            continue
        if hashlib.sha256(data).hexdigest() == page["sha256"]:
            result["matched"] += 1
        else:
            result["mismatched"].append(page["paddr"])
    for paddr in truth["zeroPages"]:
        result["checked"] += 1
        try:
            data = read(paddr)
        except Exception as e:
            result["missing"].append([paddr, str(e)])
            continue
        if data == bytes(PAGE):
            result["matched"] += 1
        else:
            result["mismatched"].append(paddr)
    for start, end in truth["excluded"]:
        for paddr in sorted({start, start + ((end - start) // 2 // PAGE) * PAGE, end - PAGE}):
            try:
                data = read(paddr)
            except Exception:
                continue
            # libkdumpfile 0.5.1 answers a read of the page just below a PT_LOAD with zeros
            # although no segment holds it; a zero page there carries nothing of the region.
            if reader_name == "libkdumpfile" and paddr == end - PAGE and data == bytes(PAGE):
                continue
            result["excluded_present"].append(paddr)
    print(json.dumps(result))
    ok = result["checked"] > 0 and result["matched"] == result["checked"] and not result["excluded_present"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
