"""test_train_smoke.py - the seed's smoke-test command line, with
`python -m src.training.train` replaced by `barforge train`, runs on a tiny
dataset (flags verbatim, then --max-epochs 1 and tiny dims appended: the last
value of a flag wins) and leaves the seed's run folder: checkpoints/best.h5 and
last.h5, configs/, metrics.csv/jsonl, metrics_test.json. The checkpoint
follows docs/formats.md (schema and checksum recomputed here)."""
import csv
import json
import os
import re
import sys

from trainutil import (SEED_SMOKE, TINY, Failure, check, cleanup, env_with, only_run_dir, run,
                       show, tinyds, verify_checkpoint, workdir)


def main():
    wd = workdir("smoke")
    try:
        meta = tinyds.write_dataset(os.path.join(wd, "ds", "v2024-01-02"))
        os.symlink("v2024-01-02", os.path.join(wd, "ds", "master"))
        args = SEED_SMOKE + ["--max-epochs", "1"] + TINY + ["--datasets-root", "ds",
                                                             "--runs-dir", "runs"]
        p = run(args, wd)
        check(p.returncode == 0, "the seed's smoke command failed:\n" + show(p))
        amx = "--use-amp: GEMM inputs rounded to bfloat16 on AMX" in p.stderr
        check(amx or "--use-amp: no AMX bf16 here, training runs in float32" in p.stderr,
              "--use-amp: neither mixed precision nor its absence reported:\n" + show(p))
        check(re.search(r"epoch 1/1 \| train_loss \S+ \| val_loss \S+.*\| lr \S+ \| grad_norm \S+ \| "
                        r"\d+ samples/s \| elapsed", p.stderr), "no epoch line:\n" + show(p))
        run_dir = only_run_dir(os.path.join(wd, "runs"))
        check(re.fullmatch(r"\d{8}-\d{6}", os.path.basename(run_dir)), "run folder name %s" % run_dir)
        for f in ("checkpoints/best.h5", "checkpoints/last.h5", "configs/model_config.json",
                  "configs/train_config.json", "metrics.csv", "metrics.jsonl", "metrics_test.json",
                  "predictions_test.csv"):
            check(os.path.exists(os.path.join(run_dir, f)), "missing %s in %s" % (f, run_dir))
        mc = json.load(open(os.path.join(run_dir, "configs/model_config.json")))
        check(mc["d_model"] == 16 and mc["seq_len"] == 16 and mc["n_features"] == 5 and
              mc["n_symbols"] == 3, "model config %s" % mc)
        tc = json.load(open(os.path.join(run_dir, "configs/train_config.json")))
        check(tc["batch_size"] == 128 and tc["max_epochs"] == 1 and tc["use_amp"] is True and
              tc["flags"]["num-workers"] == 2, "train config %s" % tc)
        check(tc["gemm_precision"] == ("bf16-amx" if amx else "fp32"),
              "gemm_precision %r with AMX %s" % (tc["gemm_precision"], amx))
        rows = list(csv.DictReader(open(os.path.join(run_dir, "metrics.csv"))))
        epochs = [r for r in rows if r["kind"] == "epoch"]
        check(len(epochs) == 1 and float(epochs[0]["val_loss"]) > 0, "metrics.csv epochs %s" % epochs)
        js = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
        check(len(js) == len(rows) and js[-1]["kind"] == "epoch", "metrics.jsonl rows %d vs csv %d"
              % (len(js), len(rows)))
        mt = json.load(open(os.path.join(run_dir, "metrics_test.json")))
        for k in ("mse", "mae", "dir_acc", "hit_rate_top_decile", "pearson_r", "n"):
            check(k in mt, "metrics_test.json lacks %s: %s" % (k, mt))
        import h5py as _h
        with _h.File(os.path.join(wd, "ds", "v2024-01-02", "test.h5")) as f:
            want = tinyds.count_windows(f["sym_id"][...], 16)
        check(mt["n"] == want, "test n %d, expected every window: %d" % (mt["n"], want))
        st = verify_checkpoint(os.path.join(run_dir, "checkpoints/last.h5"))
        check(int(st["finished"]) == 1 and int(st["epoch"]) == 1 and int(st["cursor"]) == 0,
              "last.h5 state %s" % st)
        verify_checkpoint(os.path.join(run_dir, "checkpoints/best.h5"))
        # --resume FILE starts a new run folder with its own configs
        p = run(TINY + ["--datasets-root", "ds", "--runs-dir", "runs_b", "--resume",
                        os.path.join(run_dir, "checkpoints", "last.h5"), "--max-epochs", "2",
                        "--batch-size", "128", "--no-test"], wd)
        check(p.returncode == 0 and "resuming from" in p.stderr, "resume from a file:\n" + show(p))
        rb = only_run_dir(os.path.join(wd, "runs_b"))
        for f in ("configs/model_config.json", "configs/train_config.json"):
            check(os.path.exists(os.path.join(rb, f)), "resumed run lacks %s" % f)
        st = verify_checkpoint(os.path.join(rb, "checkpoints/last.h5"))
        check(int(st["epoch"]) == 2, "resumed run ended at epoch %s" % st["epoch"])

        # time-based periodic checkpoints with retention
        p = run(TINY + ["--datasets-root", "ds", "--runs-dir", "runs_t", "--batch-size", "32",
                        "--max-epochs", "1", "--ckpt-every-seconds", "0.05", "--keep-ckpts", "2",
                        "--no-test"], wd, env=env_with(BARFORGE_FAULT="step_sleep_ms:20"))
        check(p.returncode == 0, "timed checkpoints run:\n" + show(p))
        rt = only_run_dir(os.path.join(wd, "runs_t"))
        steps = sorted(f for f in os.listdir(os.path.join(rt, "checkpoints")) if f.startswith("step-"))
        check(len(steps) == 2, "--keep-ckpts 2 kept %s" % steps)
        newest = verify_checkpoint(os.path.join(rt, "checkpoints", steps[-1]))
        check(int(newest["step"]) >= 18, "newest timed checkpoint at step %s of 21" % newest["step"])
        print("test_train_smoke: ok (%s)" % run_dir)
        return 0
    except Failure as e:
        print("FAIL test_train_smoke: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
