"""Learning-rate range test (Smith 2017): write the loss-vs-LR curve and the suggestions.

    python recipes/lr_range_test.py --dataset digits --model mlp --out runs/lr_range_test

The rate grows at every batch from --min-lr to --max-lr; the script writes lr_find.csv and
lr_find.png to --out and prints the suggested rate (combined, valley, steepest and minimum/10
rules).
The model and optimizer are left exactly as they were.
"""

import argparse
import sys

# Bad input is refused before Keras is imported (see keras_recipes/__init__.py).
KERAS_RECIPES_COMMAND_LINE = True

from keras_recipes import cli  # noqa: E402 - after the switch above


def parse(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_data_model_args(p)
    p.add_argument("--out", default="runs/lr_range_test", help="folder for the CSV and PNG")
    cli.add_lr_find_args(p)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cli.check_lr_range(args.min_lr, args.max_lr, args.num_steps)
    cli.check_dir(args.out, "--out")
    ds = cli.load_for_cli(args)
    import keras

    from keras_recipes.data import split
    from keras_recipes.lr_finder import find_lr
    from keras_recipes.workflows.common import build_network

    keras.utils.set_random_seed(args.seed)
    (x, y), _, _ = split(ds.x, ds.y, seed=args.seed)
    model = build_network(args.model, ds.input_shape, ds.num_classes)
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[args.optimizer]
    model.compile(optimizer=optimizer(args.min_lr), loss="sparse_categorical_crossentropy")
    result = find_lr(model, x, y, min_lr=args.min_lr, max_lr=args.max_lr,
                     num_steps=args.num_steps, batch_size=args.batch_size, suggest=args.rule,
                     seed=args.seed)
    csv_path, png_path = cli.write_lr_find(result, args.out)
    print(f"{ds.name} {args.model} ({args.optimizer}): {result!r}")
    print(f"wrote {csv_path} and {png_path}")
    return 0


def main(argv=None) -> int:
    return cli.run_guarded(lambda: run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
