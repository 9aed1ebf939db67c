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

# Bad input is refused before Keras is imported (see keras_recipes/__init__.py).
KERAS_RECIPES_COMMAND_LINE = True

from keras_recipes import cli  # noqa: E402 - after the switch above


def parse(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_data_model_args(p, workflow=True)
    p.add_argument("--out", default="runs/steamroller", help="run folder")
    p.add_argument("--stage-classes", type=cli.stage_classes_arg, default=2,
                   help="a number of classes (one integer), or at least two labels as the "
                   "data file writes them, such as 3,8 or barolo,barbera")
    p.add_argument("--stage1-per-class", type=cli.positive_int, default=10,
                   help="training examples per class in stage 1")
    p.add_argument("--stage1-epochs", type=cli.positive_int, default=100,
                   help="most epochs of stage 1")
    p.add_argument("--stage2-epochs", type=cli.positive_int, default=20,
                   help="most epochs of stage 2")
    p.add_argument("--stage3-epochs", type=cli.positive_int, default=20,
                   help="most epochs of stage 3")
    p.add_argument("--lr-finder-steps", type=cli.positive_int, default=100,
                   help="steps of each stage's learning-rate range test")
    p.add_argument("--batch-size", type=cli.positive_int, default=32, help="batch size")
    p.add_argument("--fresh", action="store_true", help="start afresh instead of resuming")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cli.check_dir(args.out, "--out")
    # Bad data, labels or settings answer at once, before TensorFlow is imported.
    ds = cli.load_for_cli(args)
    settings = cli.steamroller_settings(args, cli.resolve_stage_classes(args.stage_classes, ds))
    cli.check_steamroller(ds, settings)
    from keras_recipes.workflows.run_folder import RunFolderError
    from keras_recipes.workflows.steamroller import SteamrollerInputError, steamroller

    with cli.usage_errors(SteamrollerInputError, RunFolderError):
        report = steamroller(args.dataset, **settings)
    return 0 if report.passed else 1


def main(argv=None) -> int:
    return cli.run_guarded(lambda: run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
