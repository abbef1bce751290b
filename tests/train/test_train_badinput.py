"""test_train_badinput.py - bad input gets one clear message and the
documented exit code (docs/training.md): 2 for usage (flags, a checkpoint that
does not fit the dataset), 1 for failures (missing files, damaged files, NaN,
disk full, an OpenBLAS that cannot be loaded). A NaN and a failed
checkpoint write leave the previous checkpoints intact."""
import os
import re
import sys

from trainutil import (TINY, Failure, check, cleanup, env_with, only_run_dir, run, show, tinyds,
                       verify_checkpoint, workdir)

BASE = TINY + ["--batch-size", "32", "--max-epochs", "1", "--no-test"]


def expect(p, code, *patterns):
    check(p.returncode == code, "expected exit %d:\n%s" % (code, show(p)))
    err = p.stderr
    check(err.count("error:") <= 1, "more than one error line:\n" + show(p))
    for pat in patterns:
        check(re.search(pat, err), "message lacks /%s/:\n%s" % (pat, show(p)))


def main():
    wd = workdir("bad")
    try:
        tinyds.write_dataset(os.path.join(wd, "ds"))
        tinyds.write_dataset(os.path.join(wd, "ds_f7"), F=7, version="v2024-02-01")
        tinyds.write_dataset(os.path.join(wd, "ds_other"), seed=5, version="v2024-03-01")
        tinyds.write_dataset(os.path.join(wd, "ds_huge"), yscale=1e30)

        # missing dataset / checkpoint
        p = run(BASE + ["--datasets-root", "nowhere", "--runs-dir", "r0"], wd)
        expect(p, 1, r"no dataset at 'nowhere'", r"barforge build")
        p = run(["--checkpoint", "nope.h5", "--datasets-root", "ds"], wd, cmd="eval")
        expect(p, 1, r"nope\.h5.*does not exist")
        p = run(["--datasets-root", "ds"], wd, cmd="eval")
        expect(p, 2, r"--checkpoint is required")
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r0", "--resume", "nope.h5"], wd)
        expect(p, 1, r"--resume 'nope\.h5': no such checkpoint")

        # a good run to have checkpoints
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r1"], wd)
        check(p.returncode == 0, "good run failed:\n" + show(p))
        good = only_run_dir(os.path.join(wd, "r1"))
        best = os.path.join(good, "checkpoints", "best.h5")

        # not a checkpoint at all
        p = run(["--checkpoint", os.path.join("ds", "train.h5"), "--datasets-root", "ds"], wd,
                cmd="eval")
        expect(p, 1, r"not a barforge checkpoint")
        # another architecture / shape on resume
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r2", "--resume", best, "--arch",
                        "baseline"], wd)
        expect(p, 2, r"--arch baseline differs from checkpoint", r"parameter shapes")
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r2", "--resume", best, "--seq-len",
                        "32"], wd)
        expect(p, 2, r"--seq-len 32 differs from checkpoint")
        # a checkpoint on a dataset with another feature count
        p = run(["--checkpoint", best, "--datasets-root", "ds_f7"], wd, cmd="eval")
        expect(p, 2, r"expects 5 features", r"has 7")
        p = run(BASE + ["--datasets-root", "ds_f7", "--runs-dir", "r2", "--resume", best], wd)
        expect(p, 2, r"trained on 5 features", r"has 7")
        # another dataset version: refused, then allowed with the override
        p = run(BASE + ["--datasets-root", "ds_other", "--runs-dir", "r2", "--resume", best], wd)
        expect(p, 2, r"trained on dataset v2024-01-02", r"--allow-mismatch")
        p = run(BASE + ["--datasets-root", "ds_other", "--runs-dir", "r3", "--resume", best,
                        "--allow-mismatch", "--max-epochs", "2"], wd)
        check(p.returncode == 0 and "--allow-mismatch" in p.stderr, "override failed:\n" + show(p))
        p = run(["--checkpoint", best, "--datasets-root", "ds_other"], wd, cmd="eval")
        expect(p, 2, r"--allow-mismatch")

        # flags inconsistent with the dataset or each other
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r4", "--seq-len", "400"], wd)
        expect(p, 2, r"--seq-len 400: the train split .* has no window")
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r4", "--patch-size", "32"], wd)
        expect(p, 2, r"--patch-size 32")
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r4", "--batch-size", "0"], wd)
        expect(p, 2, r"--batch-size")
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r4", "--d-model", "15"], wd)
        expect(p, 2, r"--d-model 15")
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r4", "--loss", "l1"], wd)
        expect(p, 2, r"--loss")

        # NaN: injected at step 7 with checkpoints every 3 steps
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r5", "--ckpt-every-steps", "3"], wd,
                env=env_with(BARFORGE_FAULT="nan_loss:7"))
        expect(p, 1, r"loss is not finite at step 7 ",
               r"last good checkpoint .*step-00000006\.h5 \(step 6\) is kept")
        rd = only_run_dir(os.path.join(wd, "r5"))
        files = sorted(os.listdir(os.path.join(rd, "checkpoints")))
        check("step-00000006.h5" in files and not any(".tmp." in f for f in files) and
              "last.h5" not in files, "checkpoints after NaN: %s" % files)
        st = verify_checkpoint(os.path.join(rd, "checkpoints", "step-00000006.h5"))
        check(int(st["step"]) == 6, "step-6 holds step %s" % st["step"])
        # an overflowing loss from the data itself (targets ~1e28: squares overflow float32)
        p = run(BASE + ["--datasets-root", "ds_huge", "--runs-dir", "r6", "--loss", "mse"], wd)
        expect(p, 1, r"not finite at step 1 ", r"no checkpoint had been written")

        # disk full while checkpointing (the 3rd save fails)
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r7", "--ckpt-every-steps", "2"],
                wd, env=env_with(BARFORGE_FAULT="ckpt_write:3"))
        expect(p, 1, r"No space left on device", r"not written \(the previous one is intact\)")
        rd = only_run_dir(os.path.join(wd, "r7"))
        files = sorted(os.listdir(os.path.join(rd, "checkpoints")))
        check(files == ["step-00000002.h5", "step-00000004.h5"], "checkpoints after ENOSPC: %s" % files)
        for f in files:
            verify_checkpoint(os.path.join(rd, "checkpoints", f))

        # OpenBLAS is loaded when the model is built (core/nn/blas_lazy.c):
        # one that cannot be loaded is a failure naming it, before any run
        # directory or checkpoint is written
        p = run(BASE + ["--datasets-root", "ds", "--runs-dir", "r8"], wd,
                env=env_with(BARFORGE_LIBOPENBLAS=os.path.join(wd, "no-such-libopenblas.so")))
        expect(p, 1, r"needs OpenBLAS", r"could not be loaded", r"no-such-libopenblas\.so")
        check(not any(f.endswith(".h5") for _, _, fs in os.walk(os.path.join(wd, "r8")) for f in fs),
              "a checkpoint was written without OpenBLAS")
        print("test_train_badinput: ok")
        return 0
    except Failure as e:
        print("FAIL test_train_badinput: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
