"""``print_msg``: verbose output that follows Keras's interactive-logging switch.

Keras prints its own progress and callback messages through ``keras.utils.io_utils
.print_msg``, which is not part of Keras's public API. This is the same function written
on the public switch ``keras.utils.is_interactive_logging_enabled()``: while interactive
logging is on (the default) a message goes to ``sys.stdout``; after
``keras.utils.disable_interactive_logging()`` it goes to ``absl.logging`` at INFO level,
like Keras's own messages.
"""

from __future__ import annotations

import sys

import keras
from absl import logging


def print_msg(message: object, line_break: bool = True) -> None:
    """Print ``message`` to stdout, or log it when Keras's interactive logging is off.

    Example:

    >>> from keras_recipes._print import print_msg
    >>> print_msg("EarlyStopping: restoring the best weights.")
    EarlyStopping: restoring the best weights.
    """
    message = str(message)
    if not keras.utils.is_interactive_logging_enabled():
        logging.info(message)
        return
    text = f"{message}\n" if line_break else message
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        sys.stdout.write(text.encode(encoding, errors="replace").decode(encoding))
    sys.stdout.flush()
