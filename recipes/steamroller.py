"""Run the three-stage steamroller and write its report.

    python recipes/steamroller.py --dataset digits --model mlp --out runs/steamroller

Stage 1 overfits a few examples of a few classes, stage 2 generalises on all the data of
those classes, stage 3 trains on everything with a one-cycle schedule. Each stage runs the
learning-rate finder, trains with the diagnostic logger and checks its gate; a failed gate
stops the run and prints the training doctor's findings. A rerun with the same ``--out``
resumes where the last one stopped. Exit code: 0 when every gate passed, 1 when one failed,
2 for bad input.
"""

import argparse
import sys

from keras_recipes import cli


def parse(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_data_model_args(p, workflow=True)
    p.add_argument("--out", default="runs/steamroller", help="run folder")
    p.add_argument("--stage-classes", type=cli.stage_classes_arg, default=2,
                   help="a number, or labels such as 3,8")
    p.add_argument("--stage1-per-class", type=cli.positive_int, default=10)
    p.add_argument("--stage1-epochs", type=cli.positive_int, default=100)
    p.add_argument("--stage2-epochs", type=cli.positive_int, default=20)
    p.add_argument("--stage3-epochs", type=cli.positive_int, default=20)
    p.add_argument("--lr-finder-steps", type=cli.positive_int, default=100)
    p.add_argument("--batch-size", type=cli.positive_int, default=32)
    p.add_argument("--fresh", action="store_true", help="start afresh instead of resuming")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cli.check_dir(args.out, "--out")
    cli.load_for_cli(args)  # bad data answers at once, before TensorFlow is imported
    from keras_recipes.workflows.run_folder import RunFolderError
    from keras_recipes.workflows.steamroller import SteamrollerInputError, steamroller

    with cli.usage_errors(SteamrollerInputError, RunFolderError):
        report = steamroller(
            args.dataset, args.model, stage_classes=args.stage_classes,
            stage1_per_class=args.stage1_per_class, out=args.out, seed=args.seed,
            target=args.target, drop=args.drop, stage1_epochs=args.stage1_epochs,
            stage2_epochs=args.stage2_epochs, stage3_epochs=args.stage3_epochs,
            lr_finder_steps=args.lr_finder_steps, batch_size=args.batch_size,
            standardize=args.standardize, resume=not args.fresh)
    return 0 if report.passed else 1


def main(argv=None) -> int:
    return cli.run_guarded(lambda: run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
