"""test_train_tensorboard.py - --tensorboard writes event files that the
tensorboard package reads back, with the same scalars as metrics.jsonl."""
import glob
import json
import os
import sys

from trainutil import TINY, Failure, check, cleanup, only_run_dir, run, show, tinyds, workdir


def main():
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        print("FAIL test_train_tensorboard: the tensorboard Python package is not installed "
              "(pip install tensorboard)")
        return 1
    wd = workdir("tb")
    try:
        tinyds.write_dataset(os.path.join(wd, "ds"))
        p = run(TINY + ["--datasets-root", "ds", "--runs-dir", "runs", "--max-epochs", "2",
                        "--batch-size", "32", "--log-every-steps", "5", "--eval-every-steps", "7",
                        "--tensorboard", "--no-test"], wd)
        check(p.returncode == 0, "train failed:\n" + show(p))
        run_dir = only_run_dir(os.path.join(wd, "runs"))
        files = glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*"))
        check(len(files) == 1, "event files %s" % files)
        acc = EventAccumulator(os.path.join(run_dir, "tensorboard"))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for t in ("interval/train_loss", "interval/lr", "interval/grad_norm",
                  "interval/samples_per_s", "eval/val_loss", "epoch/train_loss", "epoch/val_loss",
                  "epoch/best_val_loss"):
            check(t in tags, "tag %s missing from %s" % (t, tags))
        rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
        for kind, field in (("interval", "train_loss"), ("eval", "val_loss"), ("epoch", "val_loss")):
            want = [(r["step"], r[field]) for r in rows if r["kind"] == kind]
            got = [(e.step, e.value) for e in acc.Scalars("%s/%s" % (kind, field))]
            check(len(want) == len(got) and len(want) > 0, "%s/%s: %d events, %d rows"
                  % (kind, field, len(got), len(want)))
            for (ws, wv), (gs, gv) in zip(want, got):
                check(ws == gs and abs(wv - gv) <= 1e-6 * abs(wv), "%s/%s at step %d: %r vs %r"
                      % (kind, field, ws, gv, wv))
        print("test_train_tensorboard: ok (%d tags)" % len(tags))
        return 0
    except Failure as e:
        print("FAIL test_train_tensorboard: %s" % e)
        return 1
    finally:
        cleanup(wd)


if __name__ == "__main__":
    sys.exit(main())
