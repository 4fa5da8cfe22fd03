"""The real `cairn` binary against real directories: output, --json and exit codes.

Usage: python3 test_cli.py CAIRN CHECKPOINT_FIXTURE [SHARED_TESTDATA]
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

CAIRN, FIXTURE = sys.argv[1], sys.argv[2]
TESTDATA = sys.argv[3] if len(sys.argv) > 3 and os.path.isdir(sys.argv[3]) else None


def run(*args):
    result = subprocess.run([CAIRN, *args], capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def run_json(*args):
    code, out, err = run(*args, "--json")
    return code, json.loads(out)


def run_bytes(*args):
    """For output that may hold any byte: nothing is decoded."""
    result = subprocess.run([CAIRN, *args], capture_output=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


# ESC [31m (red), then U+009B (CSI, a C1 control) 2J (clear screen), as a hostile file holds them.
HOSTILE = "\x1b[31mred\x9b2J"
HOSTILE_SHOWN = b"\\x1b[31mred\\u009b2J"  # as cairn prints them


def write_safetensors(path, tensor_name, metadata):
    """A one-tensor safetensors file, written by hand as another tool might."""
    header = json.dumps({"__metadata__": metadata,
                         tensor_name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
    header = header.encode() + b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + struct.pack("<f", 1.5))


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cairn-cli-")
        self.dir = os.path.join(self.tmp, "run")
        subprocess.run([FIXTURE, "make", self.dir, "5"], check=True)
        self.ckpts = os.path.join(self.dir, "checkpoints")
        self.names = sorted(os.listdir(self.ckpts))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def newest(self):
        return os.path.join(self.ckpts, self.names[-1])

    def flip_byte(self, path, offset_from_end=20):
        with open(path, "r+b") as f:
            f.seek(-offset_from_end, os.SEEK_END)
            byte = f.read(1)
            f.seek(-offset_from_end, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0x10]))

    # ---- ls ----
    def test_ls_lists_in_save_order_with_flags(self):
        os.makedirs(os.path.join(self.ckpts, "my-notes"))
        os.makedirs(os.path.join(self.dir, "staging", "ckpt-0000000009-epoch9-end.1.0"))
        code, out, err = run("ls", self.dir)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertIn("3 checkpoint(s)", lines[0])
        self.assertEqual([l.split()[0] for l in lines[2:5]], self.names[:3])
        self.assertIn("latest", lines[4])
        self.assertIn("(not written by cairn)", out)
        self.assertIn("(staging leftover)", out)
        code, listing = run_json("ls", self.dir)
        self.assertEqual(code, 0)
        self.assertEqual([c["name"] for c in listing["checkpoints"]], self.names[:3])
        self.assertEqual(listing["checkpoints"][-1]["flags"], ["latest"])
        self.assertEqual(listing["checkpoints"][0]["epoch"], 2)
        self.assertIsNone(listing["checkpoints"][0]["batches_this_epoch"])
        kinds = sorted(o["kind"] for o in listing["others"])
        self.assertEqual(kinds, ["not written by cairn", "staging leftover"])

    def test_ls_verify_marks_a_damaged_checkpoint(self):
        self.flip_byte(os.path.join(self.newest(), "model.safetensors"))
        code, out, err = run("ls", self.dir, "--verify")
        self.assertEqual(code, 1)
        self.assertIn("BAD", out.splitlines()[-1])
        code, listing = run_json("ls", self.dir, "--verify")
        self.assertEqual(code, 1)
        self.assertEqual(listing["checkpoints"][0]["status"], "ok")
        self.assertTrue(listing["checkpoints"][-1]["status"].startswith("BAD"))

    def test_ls_verify_shows_damaged_checkpoints_as_bad_and_exits_1(self):
        run_dir = self.make_policies_run()
        ckpts = os.path.join(run_dir, "checkpoints")
        names = sorted(os.listdir(ckpts))
        os.remove(os.path.join(ckpts, names[0], "MANIFEST.json"))
        training = os.path.join(ckpts, names[3], "training_state.safetensors")
        os.truncate(training, os.path.getsize(training) // 2)
        with open(os.path.join(ckpts, names[-1], "model.safetensors"), "r+b") as f:
            f.seek(8)  # the header's opening brace
            f.write(b"x")
        damaged = {names[0]: "MANIFEST.json", names[3]: "training_state.safetensors",
                   names[-1]: "model.safetensors"}
        code, out, err = run("ls", run_dir, "--verify")
        self.assertEqual(code, 1, out + err)
        self.assertIn("9 checkpoint(s), 3 damaged", out)
        rows = {l.split()[0]: l for l in out.splitlines()[2:]}
        self.assertEqual(sorted(rows), names)  # none left out
        for name in names:
            self.assertIn("BAD: " + damaged[name] if name in damaged else "  ok", rows[name])
        code, listing = run_json("ls", run_dir, "--verify")
        self.assertEqual(code, 1)
        self.assertEqual([c["name"] for c in listing["checkpoints"]], names)
        for entry in listing["checkpoints"]:
            if entry["name"] in damaged:
                self.assertTrue(entry["status"].startswith("BAD: " + damaged[entry["name"]]), entry)
                self.assertIsNone(entry["size_bytes"])
            else:
                self.assertEqual(entry["status"], "ok")
        self.assertEqual(listing["others"], [])  # not mistaken for folders cairn did not write
        # Without --verify they are listed too (found without reading data), and exit is 0.
        code, listing = run_json("ls", run_dir)
        self.assertEqual(code, 0)
        self.assertEqual([c["name"] for c in listing["checkpoints"]], names)
        self.assertTrue(listing["checkpoints"][0]["status"].startswith("BAD: MANIFEST.json"))
        self.assertNotIn("status", listing["checkpoints"][1])
        self.assertIn("latest", listing["checkpoints"][-2]["flags"])  # the newest that opens

    # ---- verify ----
    def test_verify_good_directory(self):
        code, out, err = run("verify", self.dir)
        self.assertEqual(code, 0, out + err)
        self.assertTrue(out.strip().endswith("OK"), out)
        self.assertNotIn("\r", out + err)  # no progress bar when not on a terminal
        code, report = run_json("verify", self.dir)
        self.assertTrue(report["ok"])
        self.assertGreaterEqual(report["files"], 7)

    def test_verify_reports_a_flipped_byte_with_file_and_tensor(self):
        model = os.path.join(self.newest(), "model.safetensors")
        self.flip_byte(model)
        code, out, err = run("verify", self.dir)
        self.assertEqual(code, 1)
        self.assertEqual(len(out.splitlines()), 2, out)  # one problem, one summary
        self.assertRegex(out.splitlines()[0], "^" + model + ": tensor '[a-z0-9.]+': checksum mismatch$")
        self.assertIn("1 problem(s)", out)
        code, report = run_json("verify", self.newest())
        self.assertEqual(code, 1)
        self.assertFalse(report["ok"])
        self.assertEqual(report["problems"][0]["file"], model)
        self.assertTrue(report["problems"][0]["tensor"])

    def test_verify_reports_a_truncated_file(self):
        training = os.path.join(self.newest(), "training_state.safetensors")
        os.truncate(training, os.path.getsize(training) // 2)
        code, out, err = run("verify", self.dir)
        self.assertEqual(code, 1)
        self.assertIn(training + ": is ", out)
        self.assertIn("the manifest says", out)

    def test_verify_a_single_file(self):
        code, out, err = run("verify", os.path.join(self.newest(), "model.safetensors"))
        self.assertEqual(code, 0, out + err)
        self.assertIn("1 file(s)", out)

    # ---- show ----
    def test_show_a_checkpoint(self):
        code, out, err = run("show", self.newest())
        self.assertEqual(code, 0, err)
        self.assertIn("fc1.weight", out)
        self.assertIn("F32", out)
        self.assertIn("[8, 4]", out)
        self.assertIn("optimizer.state.0.step", out)
        code, shown = run_json("show", self.newest(), "--tensors", "fc1.*", "--stats")
        model = shown["files"][0]
        self.assertTrue(model["written_by_cairn"])
        self.assertEqual([t["name"] for t in model["tensors"]], ["fc1.weight", "fc1.bias"])
        self.assertEqual(model["tensors"][0]["shape"], [8, 4])
        self.assertEqual(model["tensors"][0]["bytes"], 128)
        self.assertEqual(model["tensors"][0]["stats"]["min"], 4.0)  # step 4, base value
        self.assertEqual(model["tensors"][0]["stats"]["nan"], 0)

    def test_a_sharded_checkpoint_lists_verifies_and_shows_every_rank_file(self):
        run_dir = os.path.join(self.tmp, "sharded")
        subprocess.run([FIXTURE, "sharded", run_dir], check=True)
        code, listing = run_json("ls", run_dir)
        self.assertEqual(code, 0)
        self.assertEqual(len(listing["checkpoints"]), 2)
        self.assertIn("sharded:3", listing["checkpoints"][0]["flags"])
        code, out, err = run("ls", run_dir)
        self.assertIn("best,sharded:3", out)
        code, out, err = run("verify", run_dir)
        self.assertEqual(code, 0, out + err)
        newest = os.path.join(run_dir, "checkpoints", sorted(os.listdir(os.path.join(run_dir, "checkpoints")))[-1])
        code, shown = run_json("show", newest)
        self.assertEqual(code, 0)
        files = [os.path.basename(f["file"]) for f in shown["files"]]
        self.assertEqual(files, ["model.safetensors", "training_state.safetensors",
                                 "shards-rank00000.safetensors", "shards-rank00001.safetensors",
                                 "shards-rank00002.safetensors"])
        pieces = {t["name"]: t["shape"] for t in shown["files"][2]["tensors"]}
        self.assertEqual(pieces["model_state/embed.weight"], [13, 8])  # 37 rows over 3 ranks
        # A flipped byte in one rank's file is found and named.
        shard = os.path.join(newest, "shards-rank00001.safetensors")
        self.flip_byte(shard)
        code, out, err = run("verify", run_dir)
        self.assertEqual(code, 1)
        self.assertIn(shard + ": tensor 'model_state/", out)

    def test_show_escapes_control_characters_in_names_and_metadata(self):
        hostile = os.path.join(self.tmp, "hostile.safetensors")
        write_safetensors(hostile, "w." + HOSTILE, {"note": HOSTILE})
        code, out, err = run_bytes("show", hostile)
        self.assertEqual(code, 0, err)
        for raw in (b"\x1b", b"\xc2\x9b"):
            self.assertNotIn(raw, out)
        self.assertIn(b"  metadata note = " + HOSTILE_SHOWN + b"\n", out)
        self.assertIn(b"  w." + HOSTILE_SHOWN + b" ", out)
        # --json: the same text, exactly, and no control character raw.
        code, out, err = run_bytes("show", hostile, "--json")
        self.assertEqual(code, 0, err)
        self.assertNotIn(b"\x1b", out)
        self.assertNotIn(b"\xc2\x9b", out)
        shown = json.loads(out)["files"][0]
        self.assertEqual(shown["metadata"], {"note": HOSTILE})
        self.assertEqual(shown["tensors"][0]["name"], "w." + HOSTILE)
        # A name that is not UTF-8 is refused, and the refusal quotes it escaped.
        with open(hostile, "rb") as f:
            data = f.read()
        not_utf8 = os.path.join(self.tmp, "not-utf8.safetensors")
        with open(not_utf8, "wb") as f:
            f.write(data.replace(b'"w.', b'"\xff\x1b.', 1))
        code, out, err = run_bytes("show", not_utf8)
        self.assertEqual(code, 1)
        self.assertNotIn(b"\xff", err)
        self.assertIn(b"\\xff", err)
        err.decode("utf-8")  # valid UTF-8

    def test_ls_diff_verify_and_usage_errors_escape_control_characters(self):
        folder = os.path.join(self.ckpts.encode(), b"notes" + HOSTILE.encode() + b"\xff")
        os.makedirs(folder)
        code, out, err = run_bytes("ls", self.dir)
        self.assertEqual(code, 0, err)
        self.assertIn(b"(not written by cairn) " + self.ckpts.encode() + b"/notes" +
                      HOSTILE_SHOWN + b"\\xff\n", out)
        code, out, err = run_bytes("ls", self.dir, "--json")
        self.assertEqual(code, 0, err)
        self.assertNotIn(b"\xc2\x9b", out)
        paths = [o["path"] for o in json.loads(out)["others"]]
        self.assertEqual(paths, [self.ckpts + "/notes" + HOSTILE + "\ufffd"])
        a, b = (os.path.join(self.tmp, n + HOSTILE + ".safetensors") for n in "ab")
        write_safetensors(a, "w." + HOSTILE, {})
        write_safetensors(b, "v." + HOSTILE, {})
        code, out, err = run_bytes("diff", a, b)
        self.assertEqual(code, 1, err)
        self.assertEqual(out, b"- w." + HOSTILE_SHOWN + b"\n+ v." + HOSTILE_SHOWN + b"\n")
        code, out, err = run_bytes("verify", a)
        self.assertEqual(code, 0, err)
        self.assertNotIn(b"\x1b", out)
        self.assertIn(b"a" + HOSTILE_SHOWN + b".safetensors: 1 file(s)", out)
        code, out, err = run_bytes("show", os.path.join(self.tmp, "missing" + HOSTILE))
        self.assertEqual(code, 2)
        self.assertIn(b"missing" + HOSTILE_SHOWN, err)  # CLI11's message, escaped

    @unittest.skipUnless(TESTDATA, "no shared test data")
    def test_show_a_file_another_tool_wrote(self):
        code, shown = run_json("show", os.path.join(TESTDATA, "mixed_dtypes.safetensors"), "--stats")
        self.assertEqual(code, 0)
        self.assertFalse(shown["files"][0]["written_by_cairn"])
        dtypes = {t["dtype"] for t in shown["files"][0]["tensors"]}
        self.assertIn("BF16", dtypes)
        self.assertTrue(any("stats" in t for t in shown["files"][0]["tensors"] if t["dtype"] == "F16"))

    # ---- diff ----
    def test_diff_equal_and_different(self):
        code, out, err = run("diff", self.newest(), self.newest())
        self.assertEqual((code, out.strip()), (0, "no differences"))
        older = os.path.join(self.ckpts, self.names[-2])
        code, out, err = run("diff", older, self.newest())
        self.assertEqual(code, 1)
        self.assertIn("~ model.fc1.weight:", out)
        self.assertIn("~ training_state.epoch: 3 -> 4", out)
        code, result = run_json("diff", older, self.newest())
        self.assertFalse(result["equal"])
        change = next(c for c in result["changes"] if c["name"] == "model.fc1.weight")
        self.assertEqual(change["change"], "values")
        self.assertEqual(change["max_abs_diff"], 1.0)  # step 3 -> 4 shifts every weight by 1

    # ---- prune ----
    def test_prune_dry_run_then_real(self):
        os.makedirs(os.path.join(self.ckpts, "my-notes"))
        code, out, err = run("prune", self.dir, "--keep-last", "1", "--dry-run")
        self.assertEqual(code, 0, err)
        self.assertIn("would delete 2 of 3", out)
        self.assertEqual(len(os.listdir(self.ckpts)), 4)  # nothing deleted
        code, result = run_json("prune", self.dir, "--keep-last", "1")
        self.assertEqual(code, 0)
        actions = [d["action"] for d in result["decisions"]]
        self.assertEqual(actions.count("delete"), 2)
        self.assertEqual(sorted(os.listdir(self.ckpts)), sorted(["my-notes", self.names[-1]]))

    def make_policies_run(self):
        run_dir = os.path.join(self.tmp, "policies")
        subprocess.run([FIXTURE, "policies", run_dir], check=True)
        return run_dir

    def test_ls_shows_metrics_and_why_each_is_kept(self):
        run_dir = self.make_policies_run()
        code, out, err = run("ls", run_dir)
        self.assertEqual(code, 0, err)
        # Last 2: 18, 19. Best 3: 12 (0.49), 14 (0.50), 13 (0.51). Every 5th: 0, 5, 10, 15.
        self.assertIn("9 checkpoint(s)", out)
        line = next(l for l in out.splitlines() if "-epoch12-end" in l)
        self.assertIn("val_loss=0.49", line)
        self.assertIn("kept: best 1 of 3 by val_loss (min) = 0.49", line)
        line = next(l for l in out.splitlines() if "-epoch10-end" in l)
        self.assertIn("kept: end of epoch 10, a multiple of 5", line)
        code, listing = run_json("ls", run_dir)
        epochs = [c["epoch"] for c in listing["checkpoints"]]
        self.assertEqual(epochs, [0, 5, 10, 12, 13, 14, 15, 18, 19])
        last = listing["checkpoints"][-1]
        self.assertEqual(last["metrics"], {"val_loss": 0.61})
        self.assertEqual(last["retention"], "kept: one of the last 2")

    def test_prune_dry_run_explains_other_policies_then_applies_them(self):
        run_dir = self.make_policies_run()
        ckpts = os.path.join(run_dir, "checkpoints")
        before = sorted(os.listdir(ckpts))
        code, out, err = run("prune", run_dir, "--keep-best-k", "1", "--dry-run")
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(os.listdir(ckpts)), before)  # a dry run deletes nothing
        line = next(l for l in out.splitlines() if "-epoch14-end" in l)
        self.assertTrue(line.startswith("would delete"), line)
        self.assertIn("no policy keeps it (val_loss = 0.5 is not among the best 1)", line)
        self.assertIn("would delete 2 of 9", out)
        code, result = run_json("prune", run_dir, "--keep-best-k", "0", "--keep-every-n-epochs", "10")
        self.assertEqual(code, 0)
        kept = [d["name"] for d in result["decisions"] if d["action"] == "keep"]
        self.assertEqual(sorted(os.listdir(ckpts)), sorted(kept))
        self.assertEqual([int(n.split("-epoch")[1].split("-")[0]) for n in sorted(kept)], [0, 10, 18, 19])
        self.assertEqual(run("prune", run_dir, "--mode", "best")[0], 2)

    def test_prune_refuses_while_a_writer_holds_the_directory(self):
        held = os.path.join(self.tmp, "held")
        writer = subprocess.Popen([FIXTURE, "hold", held], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(writer.stdout.readline().strip(), "ready")
            code, out, err = run("prune", held, "--keep-last", "0")
            self.assertEqual(code, 2)
            self.assertIn("locked by pid %d" % writer.pid, err)
            self.assertEqual(len(os.listdir(os.path.join(held, "checkpoints"))), 1)
        finally:
            writer.stdin.close()
            writer.wait()

    # ---- usage ----
    def test_usage_errors_and_help(self):
        self.assertEqual(run()[0], 2)
        self.assertEqual(run("ls", os.path.join(self.tmp, "missing"))[0], 2)
        self.assertEqual(run("frobnicate")[0], 2)
        for command in ("ls", "show", "verify", "diff", "prune"):
            code, out, err = run(command, "--help")
            self.assertEqual(code, 0)
            self.assertIn("Example", out)
            self.assertIn("--json", out)

    def test_garbage_file_is_bad_data(self):
        garbage = os.path.join(self.tmp, "garbage.safetensors")
        with open(garbage, "wb") as f:
            f.write(b"\xff" * 100)
        code, out, err = run("show", garbage)
        self.assertEqual(code, 1)
        self.assertIn(garbage, err)
        self.assertIn("exceeds the limit", err)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
