#!/usr/bin/env python3
"""Loads trainmem's HTML reports (simulate, estimate, plan, compare) in headless Chromium and checks them through the DOM.

Each report is written by the trainmem binary, then a probe copy is made: a script at the top of <head> records
uncaught errors, and one after the report's own script counts the expected elements, dispatches a synthetic
mousemove on a chosen point and writes what it found into <pre id="probe"> as JSON. `chromium --dump-dom` prints
the DOM after the scripts ran; Chromium's console log (--enable-logging=stderr) is checked for errors too.

Expected values are derived here, not read from the HTML: the stage count and the peak event from the layout
(see the comments), the peak bytes from `trainmem simulate --format json`, formatted by this script's own iec().

Exit 77 (CTest's skip code) without Chromium unless TRAINMEM_REQUIRE_CHROMIUM=1 (then it fails).
--screenshots DIR also writes DIR/report-{simulate,estimate,plan,compare}.png at 1280x900 (docs/images/).
--measure HTML prints the load-to-rendered time of one page (docs/report.md records the figures).
"""
import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
                  "--window-size=1280,900", "--enable-logging=stderr", "--v=0"]

PROBE_HEAD = """<script>window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });</script>"""

# Runs after TM.main(): counts elements, hovers a chosen point, reports as JSON in <pre id="probe">.
PROBE_TAIL = """<script>(function () {
  const q = (s) => document.querySelectorAll(s).length;
  const texts = (s) => Array.from(document.querySelectorAll(s)).map((e) => e.textContent);
  const out = { errors: window.__errors, rendered_ms: performance.now(), kind: TM.D.kind,
    page_overflow: document.documentElement.scrollWidth - window.innerWidth };
  function hover(sel) {
    const m = document.querySelector(sel);
    if (!m) return null;
    const r = m.getBoundingClientRect();
    m.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 }));
    const tip = document.getElementById('tip');
    return tip.hidden ? null : tip.textContent;
  }
  try {
    if (TM.D.kind === 'simulate') {
      out.y_labels = texts('#timeline .y-axis .tick-label');
      out.x_labels = texts('#timeline .x-axis .tick-label');
      out.device_lines = q('#timeline .device-line');
      out.budget_lines = q('#timeline .budget-line');
      out.peak_markers = q('#timeline .peak-marker');
      out.stage_lines = q('#timeline .stage-line');
      out.table_rows = q('.tablebox tbody tr');
      out.bars = q('#bars .bar');
      out.tip = hover('#timeline .peak-marker[data-stage="0"]');
      document.querySelector('.legend button[data-cat="activations"]').click();
      out.areas_without_activations = texts('#stack .area').length;
      out.activation_areas_hidden = q('#stack .area[data-cat="activations"]');
      document.getElementById('zoom-in').click();
      out.zoomed_x_labels = texts('#timeline .x-axis .tick-label');
    } else if (TM.D.kind === 'estimate') {
      out.bars = q('#bars .bar');
      out.device_lines = q('#bars .device-line');
      out.budget_lines = q('#bars .budget-line');
      out.x_labels = texts('#bars .tick-label');
      out.tip = hover('#bars .bar[data-class="0"] rect');
    } else if (TM.D.kind === 'compare') {
      for (const k of ['measured-allocated', 'measured-reserved', 'predicted-allocated'])
        out['series_' + k] = q('#compare-timeline .series[data-series="' + k + '"]');
      const label = document.querySelector('#compare-timeline .peak-label[data-series="measured-allocated"]');
      out.measured_peak_label = label ? label.textContent : null;
      out.peak_markers = q('#compare-timeline .peak-marker');
      out.x_labels = texts('#compare-timeline .x-axis .tick-label');
      out.y_labels = texts('#compare-timeline .y-axis .tick-label');
      out.notes = Array.from(document.querySelectorAll('p.note')).map((e) => e.id);
      out.cat_bars = texts('#category-diff .cat-bar').length;
      out.cat_keys = Array.from(document.querySelectorAll('#category-diff .cat-bar')).map((e) => e.dataset.cat);
      out.tip = hover('#compare-timeline .peak-marker[data-series="measured-allocated"]');
    } else {
      out.points = q('#plan .point');
      out.chosen = q('#plan .point.chosen');
      out.over = q('#plan .point.over') + q('#plan .point.bound');
      out.device_lines = q('#plan .device-line');
      out.budget_lines = q('#plan .budget-line');
      out.tip = hover('#plan .point.chosen');
      out.picked = document.getElementById('picked').textContent;
    }
  } catch (e) { out.errors.push('probe: ' + e); }
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.style.display = 'none';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""

# For the screenshots: the page as a reader sees it, with one hover shown.
PROBE_SHOT = """<script>(function () {
  const sel = { simulate: '#timeline .peak-marker[data-stage="0"]', estimate: '#bars .bar[data-class="0"] rect',
                plan: '#plan .point.chosen',
                compare: '#compare-timeline .peak-marker[data-series="measured-allocated"]' }[TM.D.kind];
  const m = document.querySelector(sel), r = m.getBoundingClientRect();
  m.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 }));
})();</script>"""

UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]


def iec(b):
    """The largest IEC unit that keeps the number >= 1, two decimals (docs: tools/report/format.hpp)."""
    u = 0
    while u < len(UNITS) - 1 and b >= 1024 ** (u + 1):
        u += 1
    return f"{b} B" if u == 0 else f"{b / 1024 ** u:.2f} {UNITS[u]}"


def find_chromium():
    for name in ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def probe_copy(page, path, tail=PROBE_TAIL):
    text = open(page, encoding="utf-8").read()
    text = text.replace("<head>", "<head>" + PROBE_HEAD, 1)
    text = text.replace("</body>", tail + "</body>", 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def load(chromium, page, work, extra=()):
    profile = tempfile.mkdtemp(dir=work, prefix="profile-")
    r = run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, "--dump-dom", "file://" + page])
    shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', r.stdout, re.S)
    if not m:
        raise AssertionError(f"no probe output from {page} (rc {r.returncode}):\n{r.stderr[-2000:]}")
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "ERROR" in line)]
    return json.loads(html.unescape(m.group(1))), console


def screenshot(chromium, page, png, work):
    profile = tempfile.mkdtemp(dir=work, prefix="profile-")
    run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", "file://" + page])
    shutil.rmtree(profile, ignore_errors=True)
    if not os.path.exists(png):
        raise AssertionError(f"no screenshot {png}")


def check(cond, what, failures):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def check_compare(chromium, tm, scenarios, work, pages):
    """`trainmem compare --measured --html` on the lab's fixture (tests/tools/cli/snapshots/): the snapshot's page
    and the lab JSON's page. The expected peak is the lab JSON's own peak_bytes (75,092,992 B, the 512 B blocks
    figure compare compares), formatted here with thousands separators, not read from trainmem's output."""
    failures = []
    snaps = os.path.join(os.path.dirname(os.path.abspath(scenarios)), "tests", "tools", "cli", "snapshots")
    with open(os.path.join(snaps, "lab_llama_s128_b1.json"), encoding="utf-8") as f:
        lab = json.load(f)
    rank = lab["measured"]["ranks"][0]
    # Run from the source root with the lab's repository-relative flags, so the page names the files as the docs do.
    root = os.path.dirname(os.path.abspath(scenarios))
    peak_text = f"{rank['peak_bytes']:,} B"
    for name, measured in (("compare", "lab_llama_s128_b1.pickle"), ("compare-lab", "lab_llama_s128_b1.json")):
        page = os.path.join(work, f"{name}.html")
        r = run([os.path.abspath(tm), "compare", *lab["trainmem_flags"], "--measured",
                 os.path.relpath(os.path.join(snaps, measured), root), "--html", page], cwd=root)
        check(r.returncode == 0, f"trainmem compare --measured {measured} --html: exit 0 {r.stderr[-300:]}", failures)
        if r.returncode != 0:
            continue
        probe = os.path.join(work, f"probe-{name}.html")
        probe_copy(page, probe)
        pages[name + "-source"] = page
        out, console = load(chromium, probe, work)
        check(not out["errors"] and not console, f"{name}: no script or console errors {out['errors'] + console}",
              failures)
        check(out["page_overflow"] <= 0, f"{name}: no horizontal page overflow at 1280 px ({out['page_overflow']})",
              failures)
        check(out["series_predicted-allocated"] == 1, f"{name}: the predicted series is drawn", failures)
        check(out["x_labels"][0] == "0%" and out["x_labels"][-1] == "100%" and "x-note" in out["notes"],
              f"{name}: the x axis is the fraction of the step, said on the page {out['x_labels']}", failures)
        check(any(l.endswith("MiB") for l in out["y_labels"]), f"{name}: byte axis in MiB {out['y_labels']}",
              failures)
        check(out["measured_peak_label"] == "measured peak " + peak_text,
              f"{name}: the measured peak reads {peak_text} ({out['measured_peak_label']})", failures)
        if measured.endswith(".pickle"):
            check(out["series_measured-allocated"] == 1 and out["series_measured-reserved"] == 1,
                  "compare: measured allocated and reserved series drawn", failures)
            check(out["peak_markers"] == 3, f"compare: 3 peak markers ({out['peak_markers']})", failures)
            check(bool(out["tip"]) and peak_text in out["tip"],
                  f"compare: hover on the measured peak shows {peak_text} ({(out['tip'] or '')[:120]})", failures)
            check("no-categories" in out["notes"], "compare: a snapshot has no categories, said on the page",
                  failures)
        else:
            # The lab JSON: no trace, its categories as bars: every category the lab measured above 0 has one.
            check("no-trace" in out["notes"] and out["series_measured-allocated"] == 0,
                  "compare-lab: no measured timeline, said on the page", failures)
            nonzero = sorted(k for k, v in rank["categories"].items() if v > 0)
            check(all(k in out["cat_keys"] for k in nonzero),
                  f"compare-lab: a bar for each measured category {nonzero} ({out['cat_keys']})", failures)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainmem")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--scenarios")
    ap.add_argument("--screenshots")
    ap.add_argument("--measure")
    a = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        msg = "Chromium not found (Debian package chromium; tools/dev setup installs it)"
        if os.environ.get("TRAINMEM_REQUIRE_CHROMIUM") == "1":
            print("FAIL " + msg + " and TRAINMEM_REQUIRE_CHROMIUM=1")
            return 1
        print("SKIP " + msg)
        return 77
    os.makedirs(a.work_dir, exist_ok=True)
    work = os.path.abspath(a.work_dir)
    if a.measure:
        probe = os.path.join(work, "measure.html")
        probe_copy(os.path.abspath(a.measure), probe)
        out, console = load(chromium, probe, work)
        print(f"{a.measure}: {os.path.getsize(a.measure)} bytes, rendered {out['rendered_ms']:.0f} ms after "
              f"navigation start, errors {out['errors'] + console}")
        return 0
    tm, failures = a.trainmem, []
    # simulate: GPT-3 175B, tp 8, pp 8, dp 8, 64 microbatches under 1F1B on an A100 80GB.
    sim_html = os.path.join(work, "simulate.html")
    sim_args = ["simulate", "--model", "gpt3-175b", "--tp", "8", "--pp", "8", "--dp", "8", "--sequence-parallel",
                "--recompute-granularity", "selective", "--global-batch-size", "512", "--gpu", "a100-80gb"]
    r = run([tm, *sim_args, "--html", sim_html])
    check(r.returncode == 0, "trainmem simulate --html: exit 0", failures)
    stages = json.loads(run([tm, *sim_args, "--format", "json"]).stdout)["stages"]
    est_html = os.path.join(work, "estimate.html")
    r = run([tm, "estimate", os.path.join(a.scenarios, "gpt3_175b_megatron.yaml"), "--html", est_html])
    check(r.returncode == 0, "trainmem estimate --html: exit 0", failures)
    plan_html = os.path.join(work, "plan.html")
    r = run([tm, "plan", os.path.join(a.scenarios, "plan_100b_h100.yaml"), "--max-gpus", "64", "--html", plan_html])
    check(r.returncode == 0, "trainmem plan --html: exit 0", failures)

    pages = {}
    for name, page in (("simulate", sim_html), ("estimate", est_html), ("plan", plan_html)):
        probe = os.path.join(work, f"probe-{name}.html")
        probe_copy(page, probe)
        pages[name] = probe
        out, console = load(chromium, probe, work)
        check(not out["errors"] and not console, f"{name}: no script or console errors {out['errors'] + console}",
              failures)
        check(out["page_overflow"] <= 0, f"{name}: no horizontal page overflow at 1280 px ({out['page_overflow']})",
              failures)
        check(out["device_lines"] == 1 and out["budget_lines"] == 1, f"{name}: one device and one budget line",
              failures)
        if name == "simulate":
            # 1F1B stage p holds pp - p microbatches, so all 8 stages differ: 8 lines and 8 peak markers.
            check(out["stage_lines"] == 8 and out["peak_markers"] == 8, "simulate: 8 stage lines, 8 peak markers",
                  failures)
            check(len(out["y_labels"]) >= 4 and all(l == "0" or l.endswith("GiB") for l in out["y_labels"][1:]),
                  f"simulate: byte axis in GiB {out['y_labels']}", failures)
            check(out["table_rows"] == 8, "simulate: 8 rows in the stage table", failures)
            check(out["bars"] == 8, "simulate: 8 rank-class bars", failures)
            # Stage 0 holds layers 0-11 (96 / 8); its first backward (microbatch 0) starts at layer 11 with all 8
            # microbatches saved: the peak.
            tip = out["tip"] or ""
            check("stage 0" in tip and "backward, microbatch 0, layer 11 (chunk 0)" in tip,
                  f"simulate: hover on stage 0's peak names its event ({tip[:120]})", failures)
            check("total" + iec(stages[0]["peak_bytes"]) in tip,
                  f"simulate: the hover's total is stage 0's peak {iec(stages[0]['peak_bytes'])}", failures)
            check(out["activation_areas_hidden"] == 0, "simulate: the legend toggle hides activations", failures)
            check(out["zoomed_x_labels"] != out["x_labels"], "simulate: zoom changes the event axis", failures)
        elif name == "estimate":
            # gpt3_175b_megatron: pp 16 and every stage holds a different number of microbatches: 16 classes.
            check(out["bars"] == 16, f"estimate: 16 rank-class bars ({out['bars']})", failures)
            check(any(l.endswith("GiB") for l in out["x_labels"]), "estimate: byte axis in GiB", failures)
            check(bool(out["tip"]) and "class 0" in out["tip"], "estimate: hover on class 0 shows its breakdown",
                  failures)
        else:
            check(out["chosen"] == 1, "plan: exactly one chosen layout", failures)
            check(out["over"] >= 1, "plan: layouts that do not fit are shown", failures)
            # `trainmem simulate` for a layout that fits only when replayed (over the budget by estimate).
            check(bool(out["tip"]) and ("trainmem estimate" in out["tip"] or "trainmem simulate" in out["tip"]),
                  "plan: hover shows the reproduce command", failures)
            check("--tp" in out["picked"], "plan: the chosen layout's command is shown", failures)
    failures += check_compare(chromium, tm, a.scenarios, work, pages)
    if a.screenshots:
        # The docs' pictures: GPT-3 175B on 1024 GPUs (scenarios/gpt3_175b_megatron.yaml) for simulate.
        big = os.path.join(work, "simulate-1024.html")
        run([tm, "simulate", os.path.join(a.scenarios, "gpt3_175b_megatron.yaml"), "--html", big])
        os.makedirs(a.screenshots, exist_ok=True)
        for name, page in (("simulate", big), ("estimate", est_html), ("plan", plan_html),
                           ("compare", pages["compare-source"])):
            shot = os.path.join(work, f"shot-{name}.html")
            probe_copy(page, shot, PROBE_SHOT)
            screenshot(chromium, shot, os.path.join(os.path.abspath(a.screenshots), f"report-{name}.png"), work)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
