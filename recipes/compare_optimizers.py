"""Train the same model with several optimizers from the same initial weights.

    python recipes/compare_optimizers.py --dataset digits --model mlp --epochs 10

Each optimizer gets its own learning rate from the learning-rate range test (combined rule),
then trains for --epochs epochs from identical weights; the table reports the final
validation accuracy, the best validation loss and the wall time, and --out gets the CSV.
Optimizers: Keras's SGD (momentum 0.9, Nesterov), RMSprop, Adam, AdamW, and this library's
Yogi, NesterovRMSprop and RAdam. Exit code: 0 when every optimizer trained, 2 for bad input.
"""

import argparse
import sys
import time

# Bad input is refused before Keras is imported (see keras_recipes/__init__.py).
KERAS_RECIPES_COMMAND_LINE = True

from keras_recipes import cli  # noqa: E402 - after the switch above

PROG = "compare_optimizers"
CHOICES = ("sgd", "rmsprop", "adam", "adamw", "yogi", "nesterov_rmsprop", "radam")


def parse(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_data_model_args(p, epochs=10)
    p.add_argument("--optimizers", default=",".join(CHOICES),
                   help=f"comma-separated subset of {','.join(CHOICES)}")
    p.add_argument("--batch-size", type=cli.positive_int, default=32)
    p.add_argument("--num-steps", type=cli.positive_int, default=100,
                   help="steps of each range test (default: 100)")
    p.add_argument("--out", default="runs/compare_optimizers.csv")
    args = p.parse_args(argv)
    args.optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    unknown = [o for o in args.optimizers if o not in CHOICES]
    if unknown or not args.optimizers:
        p.error(f"unknown optimizer(s) {unknown}; choose from {', '.join(CHOICES)}")
    return args


def make(name: str, lr: float):
    import keras

    from keras_recipes import optimizers

    return {
        "sgd": lambda: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr),
        "adam": lambda: keras.optimizers.Adam(lr),
        "adamw": lambda: keras.optimizers.AdamW(lr),
        "yogi": lambda: optimizers.Yogi(lr),
        "nesterov_rmsprop": lambda: optimizers.NesterovRMSprop(lr),
        "radam": lambda: optimizers.RAdam(lr),
    }[name]()


def run(args: argparse.Namespace) -> int:
    cli.check_lr_range(1e-7, 10.0, args.num_steps)  # the range test's default bounds
    cli.check_csv_out(args.out, "--out")
    ds = cli.load_for_cli(args)
    import keras
    import pandas as pd

    from keras_recipes.data import split
    from keras_recipes.lr_finder import find_lr
    from keras_recipes.workflows.common import atomic_write, build_network

    train, val, _ = split(ds.x, ds.y, seed=args.seed)
    rows = []
    for name in args.optimizers:
        keras.utils.set_random_seed(args.seed)  # identical initial weights for everyone
        model = build_network(args.model, ds.input_shape, ds.num_classes)
        model.compile(optimizer=make(name, 1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        lr = find_lr(model, *train, num_steps=args.num_steps, batch_size=args.batch_size,
                     seed=args.seed).suggestion
        lr = float(lr) if lr else 1e-3
        model.compile(optimizer=make(name, lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(*train, validation_data=val, epochs=args.epochs,
                            batch_size=args.batch_size, verbose=0)
        rows.append({"optimizer": name, "learning_rate": lr,
                     "val_accuracy": history.history["val_accuracy"][-1],
                     "best_val_loss": min(history.history["val_loss"]),
                     "seconds": time.perf_counter() - start})
        print(f"{name:>17}: lr {lr:.3g}, val accuracy {rows[-1]['val_accuracy']:.4f}",
              flush=True)
    frame = pd.DataFrame(rows).sort_values("val_accuracy", ascending=False)
    atomic_write(args.out, lambda tmp: frame.to_csv(tmp, index=False))
    print(frame.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else frame)
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None) -> int:
    return cli.run_guarded(lambda: run(parse(argv)), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
