#!/usr/bin/env python3
"""tools/gpu_check without a GPU (ctest gpu_check_test): arguments, --dry-run, the build step (configure only,
or skipped for a given binary), result writing and parsing, --update-docs into a temp copy, and the no-GPU
behaviour. The fixture result file is fabricated (its "fixture" field says so), never a measurement.

usage: gpu_check_test.py SOURCE_DIR [TRAINMEM_VALIDATE_BINARY]"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SRC = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[3]
BINARY = sys.argv[2] if len(sys.argv) > 2 else None
TOOL = SRC / "tools" / "gpu_check"
FIXTURE = SRC / "tests" / "tools" / "gpu_check" / "fixture_result.json"
BEGIN = "<!-- gpu_check:begin"


def run(*args, timeout=60):
    r = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=timeout,
                       cwd=SRC)
    return r.returncode, r.stdout + r.stderr


def load_tool():
    import importlib.util
    from importlib.machinery import SourceFileLoader  # the tool has no .py suffix
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    loader = SourceFileLoader("gpu_check", str(TOOL))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("gpu_check", loader))
    loader.exec_module(module)
    return module


class GpuCheck(unittest.TestCase):
    def test_parses_a_validate_table(self):
        # Fabricated trainmem-validate output in its real layout (validate_compare.cpp), not a measurement.
        text = (
            "# Device (cudaMemGetInfo used-memory deltas)\n"
            "#   rank       context     nccl_comm  model_states     coll_peak  device\n"
            "     0     111111111      22222222     333333333       4444444  FIXTURE GPU (device 0)\n#\n"
            "# Model-state rows byte-exact: 4 of 4\n"
            "# Parameter update: 0 wrong of 23,132,160 checked elements (all ranks)\n# Verdict: PASS\n")
        fig = load_tool().parse_validate_output(text)
        self.assertEqual(fig["verdict"], "PASS")
        self.assertEqual((fig["byte_exact_rows"], fig["rows"]), (4, 4))
        self.assertEqual((fig["wrong_elements"], fig["checked_elements"]), (0, 23132160))
        self.assertEqual(fig["device_context"], 111111111)
        self.assertEqual(fig["device_nccl_comm"], 22222222)
        self.assertEqual(fig["device_collective_peak"], 4444444)
        self.assertEqual(fig["device"], "FIXTURE GPU (device 0)")
        self.assertEqual(load_tool().parse_validate_output("garbage")["verdict"], None)

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="gpu_check_test_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_bad_arguments_exit_2(self):
        for args in (["--parts", "nope"], ["--budget", "0"], ["--budget", "x"], ["--no-such-flag"],
                     ["--validate-binary", "b", "--configure-only"]):
            code, out = run(*args)
            self.assertEqual(code, 2, f"{args}: {out}")
        code, out = run("--help")
        self.assertEqual(code, 0)
        self.assertIn("--dry-run", out)
        self.assertIn("4 no GPU", out)

    def test_dry_run_prints_the_plan_and_runs_nothing(self):
        out_dir = self.tmp / "out"
        code, out = run("--dry-run", "--out", str(out_dir), "--budget", "300")
        self.assertEqual(code, 0, out)
        self.assertFalse(out_dir.exists(), "a dry run must not create the result folder")
        for part in ("build", "validate", "context", "nccl", "cublas", "allocator", "groundtruth"):
            self.assertIn(f"part {part}: limit", out)
        self.assertIn("overall budget 300 s", out)
        self.assertIn("--backend cuda --zero-stage 3 --recipe fp32", out)
        self.assertIn("cmake -S", out)
        self.assertIn("--probe context --loading EAGER", out)
        self.assertIn("NCCL_MIN/MAX_NCHANNELS = 2 and 16", out)
        self.assertIn("lab.py run --device cuda --subset full", out)
        self.assertEqual(out.count("--backend cuda --zero-stage"), 20)  # ZeRO 0-3 x 5 recipes

    def test_no_gpu_skips_every_gpu_part_and_exits_4(self):
        args = ["--assume-no-gpu", "--out", str(self.tmp / "o")]
        args += ["--validate-binary", BINARY] if BINARY else ["--parts", "validate,context,nccl,cublas,allocator"]
        code, out = run(*args)
        self.assertEqual(code, 4, out)
        data = json.loads((self.tmp / "o" / "gpu_check.json").read_text())
        self.assertIsNone(data["fixture"])
        self.assertFalse(data["gpu_present"])
        verdicts = {p["name"]: (p["verdict"], p.get("reason")) for p in data["parts"]}
        for part in ("validate", "context", "nccl", "cublas", "allocator", "groundtruth"):
            if part in args[-1] or BINARY:
                self.assertEqual(verdicts[part], ("skipped", "no GPU"), part)
        if BINARY:
            self.assertEqual(verdicts["build"][0], "skipped")
            self.assertIn("binary given", verdicts["build"][1])
        md = (self.tmp / "o" / "gpu_check.md").read_text()
        self.assertIn("skipped: no GPU", md)
        self.assertIn("gpu_check: part context: skipped (no GPU)", out)

    def test_build_step_configures_in_a_scratch_folder(self):
        build = self.tmp / "build"
        code, out = run("--assume-no-gpu", "--parts", "build", "--configure-only", "--build-dir", str(build),
                        "--out", str(self.tmp / "o"), timeout=120)
        data = json.loads((self.tmp / "o" / "gpu_check.json").read_text())
        build_part = data["parts"][0]
        self.assertEqual(build_part["verdict"], "pass", out + json.dumps(build_part))
        self.assertTrue((build / "CMakeCache.txt").exists())
        self.assertEqual(code, 0, out)  # only the build part was asked for: no GPU part was skipped for lack of one
        self.assertTrue(any("cmake -S" in c for c in build_part["commands"]))
        self.assertFalse(any("--build" in c for c in build_part["commands"]))

    def test_fixture_result_parses_and_refuses_the_docs_without_allow_fixture(self):
        docs = self.tmp / "tree"
        (docs / "docs").mkdir(parents=True)
        for f in ("validation.md", "runtime-memory.md"):
            shutil.copy(SRC / "docs" / f, docs / "docs" / f)
        before = (docs / "docs" / "validation.md").read_text()
        self.assertIn(BEGIN, before)
        self.assertIn("pending: no GPU has run this yet", before)
        code, out = run("--update-docs", str(FIXTURE), "--docs-root", str(docs))
        self.assertEqual(code, 2, out)
        self.assertIn("test fixture", out)
        self.assertEqual((docs / "docs" / "validation.md").read_text(), before)
        code, out = run("--update-docs", str(FIXTURE), "--docs-root", str(docs), "--allow-fixture")
        self.assertEqual(code, 0, out)
        for f in ("validation.md", "runtime-memory.md"):
            text = (docs / "docs" / f).read_text()
            self.assertIn("TEST FIXTURE, not a measurement", text)
            self.assertIn("FIXTURE-GPU", text)
            self.assertIn("| nccl | fail: fixture failure |", text)
            self.assertNotIn("pending: no GPU has run this yet", text.split(BEGIN)[1].split("gpu_check:end")[0])
            self.assertEqual(text.count(BEGIN), 1)
        self.assertIn("context_lazy 222,222 B", (docs / "docs" / "runtime-memory.md").read_text())
        # The real docs were not touched.
        self.assertNotIn("FIXTURE-GPU", (SRC / "docs" / "validation.md").read_text())

    def test_no_gpu_result_writes_pending_into_docs(self):
        out_dir = self.tmp / "o"
        run("--assume-no-gpu", "--parts", "context", "--out", str(out_dir))
        docs = self.tmp / "tree"
        (docs / "docs").mkdir(parents=True)
        for f in ("validation.md", "runtime-memory.md"):
            shutil.copy(SRC / "docs" / f, docs / "docs" / f)
        code, out = run("--update-docs", str(out_dir / "gpu_check.json"), "--docs-root", str(docs))
        self.assertEqual(code, 0, out)
        self.assertIn("pending: no GPU has run this yet", (docs / "docs" / "validation.md").read_text())

    def test_malformed_results_are_refused(self):
        bad = self.tmp / "bad.json"
        for content in ("not json", json.dumps({"schema": "other"}),
                        json.dumps({"schema": "trainmem-gpu-check/1", "command": "x", "environment": {},
                                    "parts": [{"name": "warp-drive", "verdict": "pass"}]})):
            bad.write_text(content)
            code, out = run("--update-docs", str(bad), "--docs-root", str(self.tmp))
            self.assertEqual(code, 2, out)
            self.assertIn("error", out)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
