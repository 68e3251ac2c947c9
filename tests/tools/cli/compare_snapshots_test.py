"""`trainmem compare --measured` through the binary: a hand-made snapshot whose peaks are derived by hand below,
the lab's snapshot fixture against the lab's JSON, and malicious or broken pickles, each refused with exit 2 and
a message naming what was refused (nothing is ever run: the os.system payload would create a file).

usage: compare_snapshots_test.py TRAINMEM SOURCE_DIR WORK_DIR"""

import json
import os
import pickle
import subprocess
import sys

TRAINMEM, ROOT, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)


def compare(path, *extra):
    cmd = [TRAINMEM, "compare", "--model", "gpt2", "--measured", path] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)


def write(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def entry(action, addr, size):
    return {"action": action, "addr": addr, "size": size, "stream": 0, "frames": [], "time_us": 0}


def block(addr, size, requested, state):
    return {"address": addr, "size": size, "requested_size": requested, "state": state, "frames": []}


def handmade():
    """Device 0: X (1,024 B) is live before recording starts (in a 2 MiB segment); the trace then maps a second
    2 MiB segment, allocates A 1,000 and B 3,000, frees A and X, allocates C 500.  By hand:
      requested bytes: start 1,024 (end 3,500 - allocs 4,500 + frees 2,024) -> 2,024 -> 5,024 (peak) -> 4,024
                       -> 3,000 -> 3,500
      512 B blocks:    1,024 -> 2,048 -> 5,120 (peak) -> 4,096 -> 3,072 -> 3,584
      reserved:        2 MiB at the start, 4 MiB after the segment_alloc (peak)
    Device 1: no trace, one 20 MiB segment with one 1 MiB block live: its peaks are that end state."""
    mib = 1 << 20
    trace0 = [entry("segment_alloc", 2 * mib, 2 * mib), entry("alloc", 2 * mib, 1000), entry("alloc", 2 * mib + 1024, 3000),
              entry("free_requested", 2 * mib, 1000), entry("free_completed", 2 * mib, 1000),
              entry("free_requested", 0, 1024), entry("free_completed", 0, 1024), entry("alloc", 0, 500),
              entry("snapshot", 0, 0)]
    segs = [
        {"device": 0, "address": 0, "total_size": 2 * mib, "allocated_size": 512, "active_size": 512,
         "requested_size": 500, "stream": 0, "segment_type": "small", "segment_pool_id": (0, 0),
         "is_expandable": False, "frames": [],
         "blocks": [block(0, 512, 500, "active_allocated"), block(512, 2 * mib - 512, 0, "inactive")]},
        {"device": 0, "address": 2 * mib, "total_size": 2 * mib, "allocated_size": 3072, "active_size": 3072,
         "requested_size": 3000, "stream": 0, "segment_type": "small", "segment_pool_id": (0, 0),
         "is_expandable": False, "frames": [],
         "blocks": [block(2 * mib, 1024, 0, "inactive"), block(2 * mib + 1024, 3072, 3000, "active_allocated"),
                    block(2 * mib + 4096, 2 * mib - 4096, 0, "inactive")]},
        {"device": 1, "address": 0, "total_size": 20 * mib, "allocated_size": mib, "active_size": mib,
         "requested_size": mib, "stream": 0, "segment_type": "large", "segment_pool_id": (0, 0),
         "is_expandable": False, "frames": [], "blocks": [block(0, mib, mib, "active_allocated"),
                                                         block(mib, 19 * mib, 0, "inactive")]},
    ]
    return {"segments": segs, "device_traces": [trace0, []], "allocator_settings": {}}


def test_handmade():
    snap = handmade()
    for proto in (2, 4, 5):
        p = compare(write("handmade_p%d.pickle" % proto, pickle.dumps(snap, protocol=proto)), "--format", "json")
        check(p.returncode == 0, "hand-made snapshot, protocol %d: exit 0 (%s)" % (proto, p.stderr.strip()))
        if p.returncode != 0:
            continue
        m = json.loads(p.stdout)["measured"]
        d0, d1 = m["devices"]
        check((d0["allocated_peak_bytes"], d0["allocated_peak_block_bytes"], d0["reserved_peak_bytes"]) ==
              (5024, 5120, 4 << 20), "device 0 peaks by hand: 5,024 / 5,120 / 4 MiB (got %s)" % d0)
        check((d0["allocated_at_trace_start_bytes"], d0["reserved_at_trace_start_bytes"]) == (1024, 2 << 20),
              "device 0 start: 1,024 B allocated, 2 MiB reserved")
        check((d0["allocs"], d0["frees_completed"], d0["trace_entries"], d0["segments"]) == (3, 2, 9, 2),
              "device 0 counts")
        check((d1["allocated_peak_bytes"], d1["reserved_peak_bytes"]) == (1 << 20, 20 << 20),
              "device 1: end state only (1 MiB / 20 MiB)")
        check(m["peak_bytes"] == 1 << 20 and m["reserved_peak_bytes"] == 20 << 20, "largest device's peaks")
    p = compare(os.path.join(WORK, "handmade_p4.pickle"))
    check(p.returncode == 0 and "allocated peak 5,024 B requested, 5,120 B in 512 B blocks; reserved peak 4,194,304 B"
          in p.stdout, "table line for device 0")


def test_handmade_timeline():
    """Device 0 of handmade() alone: the timeline after each entry that moves bytes, x = entry index + 1 (x = 0: the
    trace's start), by hand from the docstring above: (x, 512 B blocks, reserved) = (0, 1,024, 2 MiB),
    (1, 1,024, 4 MiB) segment_alloc, (2, 2,048) A, (3, 5,120) B, (5, 4,096) free A, (7, 3,072) free X, (8, 3,584) C;
    free_requested (entries 3, 5) and snapshot (8) move nothing; 9 entries. Under 800 samples: none dropped."""
    snap = handmade()
    snap["segments"] = [s for s in snap["segments"] if s["device"] == 0]
    snap["device_traces"] = snap["device_traces"][:1]
    html = os.path.join(WORK, "handmade.html")
    p = compare(write("handmade_d0.pickle", pickle.dumps(snap, protocol=4)), "--format", "json", "--html", html)
    check(p.returncode == 0, "device 0 alone: exit 0 (%s)" % p.stderr.strip())
    if p.returncode != 0:
        return
    t = json.loads(p.stdout)["measured"]["timeline"]
    mib = 1 << 20
    check(t["device"] == 0 and t["x_first"] == 0 and t["x_last"] == 9, "timeline: device 0, entries 0..9")
    check(t["allocated"]["x"] == [0, 1, 2, 3, 5, 7, 8] and t["reserved"]["x"] == [0, 1, 2, 3, 5, 7, 8],
          "timeline x by hand (got %s)" % t["allocated"]["x"])
    check(t["allocated"]["bytes"] == [1024, 1024, 2048, 5120, 4096, 3072, 3584],
          "allocated timeline by hand (got %s)" % t["allocated"]["bytes"])
    check(t["reserved"]["bytes"] == [2 * mib] + [4 * mib] * 6, "reserved timeline by hand")
    check((t["allocated"]["peak_bytes"], t["allocated"]["peak_x"]) == (5120, 3), "allocated peak 5,120 at x 3")
    check((t["reserved"]["peak_bytes"], t["reserved"]["peak_x"]) == (4 * mib, 1), "reserved peak 4 MiB at x 1")
    page = open(html, encoding="utf-8").read() if os.path.exists(html) else ""
    check('"kind":"compare"' in page and "TM.compare" in page, "--html writes the compare page")


def test_lab_fixture():
    with open(os.path.join(ROOT, "tests/tools/cli/snapshots/lab_llama_s128_b1.json")) as f:
        r = json.load(f)
    rank = r["measured"]["ranks"][0]
    cmd = [TRAINMEM, "compare"] + r["trainmem_flags"] + [
        "--measured", "tests/tools/cli/snapshots/lab_llama_s128_b1.pickle", "--format", "json"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    check(p.returncode == 0, "lab fixture: exit 0 (%s)" % p.stderr.strip())
    if p.returncode == 0:
        d = json.loads(p.stdout)["measured"]["devices"][0]
        check(d["allocated_peak_block_bytes"] == rank["peak_bytes"], "lab fixture: peak_bytes to the byte")
        check(d["allocated_peak_bytes"] == rank["peak_bytes_unrounded"], "lab fixture: peak_bytes_unrounded")
        check(d["reserved_peak_bytes"] == rank["reserved_emulated"]["peak_reserved"], "lab fixture: reserved")


class System:
    def __reduce__(self):
        return (os.system, ("touch %s" % os.path.join(WORK, "PWNED"),))


def refused(name, data, needle):
    p = compare(write(name, data))
    check(p.returncode == 2 and needle in p.stderr, "%s: exit 2 naming '%s' (exit %d: %s)" % (
        name, needle, p.returncode, p.stderr.strip()[:200]))


def test_malicious():
    refused("system_p4.pickle", pickle.dumps(System(), protocol=4), "pickle opcode STACK_GLOBAL (0x93) refused")
    refused("system_p2.pickle", pickle.dumps(System(), protocol=2), "byte 2: pickle opcode GLOBAL (0x63) refused")
    refused("system_in_trace.pickle", pickle.dumps({"segments": [], "device_traces": [[System()]]}, protocol=4),
            "refused")
    check(not os.path.exists(os.path.join(WORK, "PWNED")), "os.system never ran")
    deep = []
    for _ in range(200):
        deep = [deep]
    refused("deep.pickle", pickle.dumps({"segments": deep}, protocol=4), "nested more than 64 deep")
    refused("huge_string.pickle", b"\x80\x04\x8d" + (1 << 62).to_bytes(8, "little") + b"abc.",
            "a string of 4611686018427387904 bytes runs past the end of the file")
    refused("huge_frame.pickle", b"\x80\x04\x95" + (1 << 60).to_bytes(8, "little") + b"N.", "FRAME of")
    full = pickle.dumps(handmade(), protocol=4)  # protocol 4 announces the frame's length: a cut shows there
    refused("truncated_p4.pickle", full[: len(full) // 2], "byte 2: FRAME of %d bytes runs past the end" % (len(full) - 11))
    full2 = pickle.dumps(handmade(), protocol=2)  # no FRAME: the cut shows at the end
    refused("no_stop.pickle", full2[:-1], "ends before the pickle's STOP opcode (truncated)")
    cyc = []
    cyc.append(cyc)
    refused("cycle.pickle", pickle.dumps({"segments": cyc}, protocol=4), "changes a container already inside another")
    one = [entry("alloc", 0, 512), entry("free_completed", 0, 512)] * 500
    refused("int_entry.pickle", pickle.dumps({"segments": [], "device_traces": [[0]]}, protocol=4),
            "device_traces[0][0]: is int, not a dict")
    refused("shared_repeat.pickle", pickle.dumps({"segments": [], "device_traces": [one] * 1000}, protocol=4),
            "shared references repeat the same entries")
    refused("bad_state.pickle", pickle.dumps({"segments": [dict(handmade()["segments"][0], blocks=[
        block(0, 512, 500, "weird")])], "device_traces": []}, protocol=4), "segments[0].blocks[0].state: 'weird'")
    refused("negative.pickle", pickle.dumps({"segments": [], "device_traces": [[entry("alloc", 0, -5)]]}, protocol=4),
            "size: -5 is negative")
    refused("free_first.pickle", pickle.dumps({"segments": [], "device_traces": [[entry("free_completed", 0, 512),
                                                                                  entry("alloc", 0, 512)]]}, protocol=4),
            "the trace frees more than was allocated")
    refused("not_a_snapshot.pickle", pickle.dumps({"a": 1}, protocol=4), "has neither 'segments' nor 'device_traces'")
    refused("text.txt", b"hello", "neither a pickle")
    refused("other.json", b'{"a": 1}', "not a tools/groundtruth lab result")


def main():
    os.makedirs(WORK, exist_ok=True)
    if os.path.exists(os.path.join(WORK, "PWNED")):
        os.remove(os.path.join(WORK, "PWNED"))
    test_handmade()
    test_handmade_timeline()
    test_lab_fixture()
    test_malicious()
    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
