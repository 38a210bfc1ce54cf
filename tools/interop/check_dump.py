#!/usr/bin/python3
"""Reads a dump with a real reader (libkdumpfile or drgn) and compares it with a truth manifest.

usage: check_dump.py {libkdumpfile,drgn} DUMP TRUTH.json
       check_dump.py compare INPUT OUTPUT

Prints one JSON object: reader, checked, matched, mismatched (physical addresses), missing,
excluded_present, and what the reader says about the dump (VMCOREINFO OSRELEASE). Exits 0 only
when every sampled page matches, every zero page reads as zeros and no excluded page is readable.

`compare` reads EVERY page of INPUT with libkdumpfile (the frames of its PT_LOADs or bitmap) and the
same page of OUTPUT with libkdumpfile, and counts pages that are equal, that differ, and that OUTPUT
does not have (left out by its dump level; absent_nonzero: of those, the ones whose input bytes are
not all zero). Exits 0 when no page differs.
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


def compare(input_path, output_path):
    import kdumpfile

    a = kdumpfile.kdumpfile(input_path)
    b = kdumpfile.kdumpfile(output_path)
    result = {"reader": "libkdumpfile", "pages": 0, "equal": 0, "differ": [], "absent_in_output": 0,
              "absent_in_input": 0, "absent_nonzero": 0, "output_zero_where_input_not": 0}
    max_pfn = int(a.attr["max_pfn"])
    pfn = 0
    while pfn < max_pfn:
        try:
            data = bytes(a.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * PAGE, PAGE))
        except Exception:
            result["absent_in_input"] += 1
            pfn += 1
            continue
        result["pages"] += 1
        try:
            other = bytes(b.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * PAGE, PAGE))
        except Exception:
            result["absent_in_output"] += 1
            if data != bytes(PAGE):
                result["absent_nonzero"] += 1
            pfn += 1
            continue
        if other == data:
            result["equal"] += 1
        elif other == bytes(PAGE):
            # a filtered ELF (makedumpfile -E) reads left-out pages as zeros
            result["output_zero_where_input_not"] += 1
        elif len(result["differ"]) < 20:
            result["differ"].append(pfn * PAGE)
        else:
            result["differ"].append(pfn * PAGE)
        pfn += 1
    result["differ_count"] = len(result["differ"])
    result["differ"] = result["differ"][:20]
    print(json.dumps(result))
    return 0 if result["differ_count"] == 0 and result["pages"] > 0 else 1


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3])
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
