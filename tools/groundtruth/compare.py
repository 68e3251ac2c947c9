"""The ground-truth lab's comparison with trainmem: `trainmem estimate --format json` for every result, the error
per configuration, the median / max per framework (lab.py compare), and docs/accuracy.md (lab.py render)."""

import json
import os
import re
import statistics
import subprocess
import sys

from catalogue import HERE, MODELS, RESULTS, ROOT, result_path, select, versions  # noqa: F401

# ---------------------------------------------------------------------------------------------------
# Comparison with trainmem.

PRED_KEYS = ["params", "grads", "master_params", "optimizer_states", "activations", "buffers", "temporaries",
             "runtime", "peak"]


NEW_FLAGS = ("--framework", "--optimizer-impl")


def legacy_flags(flags):
    """Today's trainmem: drop the flags the HF profile adds and map --recipe amp to fp32 (its params,
    grads and optimizer states; the bf16 activations are then over-predicted)."""
    out, i = [], 0
    while i < len(flags):
        if flags[i] in NEW_FLAGS:
            i += 2
            continue
        if flags[i] == "--recipe" and flags[i + 1] == "amp":
            out += ["--recipe", "fp32"]
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out


def predict(trainmem, r, legacy=False):
    flags = legacy_flags(r["trainmem_flags"]) if legacy else r["trainmem_flags"]
    cmd = [trainmem, "estimate"] + flags + ["--format", "json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    except OSError as e:
        sys.exit("cannot run %s: %s" % (trainmem, e))
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        return None, (msg[0] if msg else "exit %d" % p.returncode)
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "bad json: %s" % e


def load_results(results, subset):
    names = [c["name"] for c in select(subset)]
    out = []
    for n in names:
        path = result_path(results, n)
        if os.path.exists(path):
            with open(path) as f:
                out.append(json.load(f))
    return out


def compare_rows(trainmem, results, subset, legacy=False):
    rows = []
    for r in load_results(results, subset):
        fw = "hf" if MODELS[r["config"]["model"]]["kind"] == "hf" else "megatron"
        row = {"name": r["name"], "framework": fw, "measured": r["measured"]["max_peak_bytes"],
               "phase": r["measured"]["ranks"][0]["phase"], "categories": r["measured"]["ranks"][0]["categories"],
               "predicted": None, "error_pct": None, "status": "ok", "pred_bytes": None}
        pred, err = predict(trainmem, r, legacy)
        if pred is None:
            row["status"] = "unsupported: " + err
        else:
            row["predicted"] = pred.get("max_peak_bytes")
            row["pred_bytes"] = pred["ranks"][0].get("bytes", {}) if pred.get("ranks") else {}
            row["error_pct"] = 100.0 * (row["predicted"] - row["measured"]) / row["measured"]
        rows.append(row)
    return rows


def summary(rows):
    out = {}
    for fw in sorted({r["framework"] for r in rows}):
        errs = [abs(r["error_pct"]) for r in rows if r["framework"] == fw and r["error_pct"] is not None]
        uns = sum(1 for r in rows if r["framework"] == fw and r["error_pct"] is None)
        out[fw] = {"n": len(errs), "unsupported": uns,
                   "median_abs_error_pct": statistics.median(errs) if errs else None,
                   "max_abs_error_pct": max(errs) if errs else None}
    return out


def cmd_compare(args):
    rows = compare_rows(args.trainmem, args.results, args.subset, args.legacy)
    if not rows:
        print("no results under %s (run `lab.py run` first)" % args.results)
        return 2
    print("%-58s %12s %12s %8s  %s" % ("config", "measured", "predicted", "err%", "status"))
    bad = 0
    for r in rows:
        if r["error_pct"] is None:
            print("%-58s %12d %12s %8s  %s" % (r["name"], r["measured"], "-", "-", r["status"]))
            continue
        flag = ""
        if abs(r["error_pct"]) > args.bound:
            bad += 1
            flag = "  > %.1f%%" % args.bound
        print("%-58s %12d %12d %+8.2f%s" % (r["name"], r["measured"], r["predicted"], r["error_pct"], flag))
    for fw, s in summary(rows).items():
        if s["n"]:
            print("%-9s n=%d median |err| %.2f%%  max |err| %.2f%%  unsupported %d" % (
                fw, s["n"], s["median_abs_error_pct"], s["max_abs_error_pct"], s["unsupported"]))
        else:
            print("%-9s n=0 (all %d unsupported by this trainmem)" % (fw, s["unsupported"]))
    if bad:
        print("%d configuration(s) outside +-%.1f%%" % (bad, args.bound))
        return 1
    uns = sum(1 for r in rows if r["error_pct"] is None)
    if uns and not args.allow_unsupported:
        print("%d configuration(s) unsupported by this trainmem (--allow-unsupported to accept)" % uns)
        return 2
    return 0


def fmt_mib(b):
    return "%.3f" % (b / 2**20) if b is not None else "-"


def cmd_render(args):
    rows = compare_rows(args.trainmem, args.results, "full") if args.trainmem else []
    legacy = compare_rows(args.trainmem, args.results, "full", legacy=True) if args.trainmem else []
    leg = {r["name"]: r for r in legacy}
    results = load_results(args.results, "full")
    vers = results[0]["versions"] if results else versions()
    by = {r["name"]: r for r in rows}
    L = ["# Accuracy against measured PyTorch / Hugging Face training steps", "",
         "Generated by `python3 tools/groundtruth/lab.py render --trainmem %s` from the results in "
         "`tools/groundtruth/results/` (regenerate those with `python3 tools/groundtruth/lab.py run --subset full`)."
         % (args.trainmem or "PATH"), "",
         "Versions: " + ", ".join("%s %s" % kv for kv in sorted(vers.items())), "",
         "Measured: per-rank peak of allocated bytes over two training steps on CPU (distributed: the third of three), every allocation replayed "
         "from torch.profiler memory events (exact: the replay equals the allocator's running total at every "
         "event; FSDP's gloo collectives release their tensors on the training thread, where the profiler sees the "
         "free: tools/groundtruth/gloo_sync.py), CUDA's 512-byte block rounding emulated, host-resident optimizer "
         "`step` scalars excluded. "
         "Predicted: `trainmem estimate <flags> --format json`, max_peak_bytes. MiB = 2^20 bytes.", ""]
    for title, rs in (("## Summary", rows), ("## Summary, legacy (today's flags only)", legacy)):
        if not rs:
            continue
        L += [title, "", "| framework | configs | median abs error | max abs error | unsupported |",
              "|---|---|---|---|---|"]
        for fw, s in summary(rs).items():
            L.append("| %s | %d | %s | %s | %d |" % (
                fw, s["n"], "-" if s["median_abs_error_pct"] is None else "%.2f%%" % s["median_abs_error_pct"],
                "-" if s["max_abs_error_pct"] is None else "%.2f%%" % s["max_abs_error_pct"], s["unsupported"]))
        L.append("")
    L += ["## Per configuration", "",
          "Measured categories at the peak (rank 0), MiB: P params, M master params, G grads, O optimizer states, "
          "B buffers, I inputs, A saved activations, T temporaries. Predicted categories from trainmem in brackets.",
          "`legacy` is the same binary with `--framework`/`--optimizer-impl` dropped and `--recipe amp` "
          "read as fp32 (`lab.py compare --legacy`): today's paper-formula prediction, for reference.",
          "", "| config | phase at peak | measured MiB | predicted MiB | error | legacy error | P | M | G | O | B | I | A | T |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keymap = [("params", "params"), ("master_params", "master_params"), ("grads", "grads"),
              ("optimizer_states", "optimizer_states"), ("buffers", "buffers"), ("inputs", None),
              ("activations", "activations"), ("temporaries", "temporaries")]
    for r in results:
        cat = r["measured"]["ranks"][0]["categories"]
        row = by.get(r["name"])
        pb = row["pred_bytes"] if row and row["pred_bytes"] else None
        cells = []
        for mk, pk in keymap:
            s = fmt_mib(cat.get(mk, 0))
            if pb is not None and pk is not None and pk in pb:
                s += " [%s]" % fmt_mib(pb[pk])
            cells.append(s)
        if row is None:
            pred, err = "-", "-"
        elif row["error_pct"] is None:
            flag = re.search(r"--[a-z0-9-]+", row["status"])
            pred, err = "-", "unsupported" + (" (%s)" % flag.group(0) if flag else "")
        else:
            pred, err = fmt_mib(row["predicted"]), "%+.2f%%" % row["error_pct"]
        lr = leg.get(r["name"])
        lerr = "-" if lr is None or lr["error_pct"] is None else "%+.2f%%" % lr["error_pct"]
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (r["name"], r["measured"]["ranks"][0]["phase"],
                                                          fmt_mib(r["measured"]["max_peak_bytes"]), pred, err, lerr,
                                                          " | ".join(cells)))
    L.append("")
    findings = os.path.join(HERE, "FINDINGS.md")
    if os.path.exists(findings):
        with open(findings) as f:
            L.append(f.read())
    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")
    print("wrote %s (%d configurations)" % (args.out, len(results)))
    return 0
