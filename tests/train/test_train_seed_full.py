"""test_train_seed_full.py (slow) - the seed's "Smoke test" command line
verbatim (seq 64, d-model 128, 3 layers, 2 epochs) trains on a small dataset
and eval's seed command line evaluates its best checkpoint; the "Full run"
command line (batch 256, 20 epochs) is accepted and trains, capped with
--max-steps so the test stays within minutes on a CPU."""
import json
import os
import sys

from trainutil import (SEED_FULL, SEED_SMOKE, Failure, check, cleanup, only_run_dir, run, show,
                       tinyds, workdir)


def main():
    wd = workdir("seedfull")
    try:
        tinyds.write_dataset(os.path.join(wd, "artifacts", "datasets", "v2024-01-02"))
        os.symlink("v2024-01-02", os.path.join(wd, "artifacts", "datasets", "master"))
        # defaults: --datasets-root artifacts/datasets (master), --runs-dir artifacts/runs
        p = run(SEED_SMOKE, wd, timeout=1800)
        check(p.returncode == 0, "seed smoke command failed:\n" + show(p))
        rd = only_run_dir(os.path.join(wd, "artifacts", "runs"))
        mc = json.load(open(os.path.join(rd, "configs", "model_config.json")))
        check(mc["d_model"] == 128 and mc["seq_len"] == 64 and mc["num_layers"] == 3,
              "model config %s" % mc)
        p = run(["--checkpoint", os.path.join(rd, "checkpoints", "best.h5"), "--datasets-root",
                 "artifacts/datasets", "--batch-size", "512", "--num-workers", "4"], wd,
                cmd="eval", timeout=600)
        check(p.returncode == 0, "seed eval command failed:\n" + show(p))
        j = json.loads(p.stdout.strip().splitlines()[-1])
        check(j["n"] > 0 and "hit_rate_top_decile" in j, "eval json %s" % j)
        p = run(SEED_FULL + ["--max-steps", "4", "--runs-dir", "runs_full"], wd, timeout=1800)
        check(p.returncode == 0, "seed full-run command failed:\n" + show(p))
        print("test_train_seed_full: ok")
        return 0
    except Failure as e:
        print("FAIL test_train_seed_full: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
