"""Reserved vs allocated: trainmem's reserved range against the caching-allocator emulator's figures
(results/reserved.json, written by `lab.py reserved`).  `lab.py reserved-table --trainmem BIN` prints the
table of docs/runtime-memory.md and exits 1 when an emulated figure is outside trainmem's range."""

import json
import os
import subprocess

from catalogue import RESULTS, ROOT

RESERVED = os.path.join(RESULTS, "reserved.json")


def runtime_flags(flags):
    """The row's flags with the runtime model on, but no CUDA context and no cuBLAS workspace (the lab's
    stream has neither; single-process rows have no NCCL): what is left of `runtime` is the allocator's."""
    out, i = [], 0
    while i < len(flags):
        if flags[i] == "--runtime":
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out + ["--cuda-context", "0", "--cublas-workspace", "0"]


def trainmem_range(trainmem, row):
    cmd = [trainmem, "estimate"] + runtime_flags(row["trainmem_flags"]) + ["--format", "json"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (p.stderr or p.stdout).strip()))
    d = json.loads(p.stdout)
    c = d["ranks"][d["max_peak_class"]]
    b = c["bytes"]
    dynamic = b["activations"] + b["buffers"] + b["temporaries"]
    # With n distinct lengths: n - 1 stranded copies (sim/runtime/caching_allocator.hpp, the same formula).
    n = len(set(row["config"].get("seqs", [row["config"]["seq"]])))
    fixed = c["reserved"] - c["runtime_detail"]["fragmentation"]
    high_all = fixed + variable_length_fragmentation(dynamic, max(1, n - 1))
    return {"allocated": c["allocated"], "reserved": c["reserved"], "reserved_high": c["reserved_high"],
            "reserved_high_all": max(high_all, c["reserved_high"])}


def variable_length_fragmentation(dynamic, stranded):
    """sim/runtime/caching_allocator.cpp: stranded copies of the dynamic bytes rounded up to 2 MiB, plus one
    20 MiB and one 2 MiB segment tail."""
    if dynamic == 0 or stranded == 0:
        return 0
    two = 2 << 20
    return (dynamic + two - 1) // two * two * stranded + (20 << 20) + (2 << 20)


def compare(trainmem, path=RESERVED):
    with open(path) as f:
        rows = json.load(f)["rows"]
    out = []
    for r in rows:
        t = trainmem_range(trainmem, r)
        e = r["peak_reserved_emulated"]
        out.append(dict(name=r["name"], measured=r["peak_bytes"], emulated=e, **t,
                        inside=t["reserved"] <= e <= t["reserved_high"],
                        inside_all=t["reserved"] <= e <= t["reserved_high_all"]))
    return out


def table(rows):
    mib = lambda b: "%.1f" % (b / 2.0 ** 20)  # noqa: E731
    lines = ["| configuration | allocated (lab) | emulated reserved | over allocated | trainmem allocated | "
             "trainmem reserved .. reserved_high | inside | high with n-1 copies |",
             "|---|---:|---:|---:|---:|---|---|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s (%.1f%%) | %s | %s .. %s | %s | %s%s |" % (
            r["name"], mib(r["measured"]), mib(r["emulated"]), mib(r["emulated"] - r["measured"]),
            100.0 * (r["emulated"] - r["measured"]) / r["measured"], mib(r["allocated"]), mib(r["reserved"]),
            mib(r["reserved_high"]), "yes" if r["inside"] else "**no**", mib(r["reserved_high_all"]),
            "" if r["inside_all"] else " (**outside**)"))
    return "\n".join(lines) + "\n\n(MiB; allocated = the lab's peak of 512 B blocks; trainmem run with the row's " \
        "flags and `--cuda-context 0 --cublas-workspace 0` instead of `--runtime off`.)"


def cmd_reserved_table(args):
    rows = compare(args.trainmem, args.results)
    print(table(rows))
    return 0 if all(r["inside_all"] for r in rows) else 1
