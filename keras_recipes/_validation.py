"""Helpers that raise Keras-style argument errors, as structured :class:`ArgumentError`.

Every message names the argument and what was received, e.g.
``Argument `max_lr` must be > `min_lr`. Received: min_lr=1, max_lr=0.1``. The error also
carries them as data (``.argument``, ``.required``, ``.received``), and its message is kept
as a template whose argument names another reader may spell its own way
(:meth:`ArgumentError.render`): the ``keras-recipes`` command names its flags there
(``--max-lr must be > --min-lr``) without rewriting the text.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: ``spell(name, value)`` names an argument in a message: ``value`` is ``None`` for the name
#: in prose (`` `out` ``), ``""`` for the start of an assignment (``out=``), or the text of
#: a value for a whole assignment (``resume=False``).
Spelling = Callable[[str, "str | None"], "str | None"]


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def literal_text(text: str) -> str:
    """``text`` as literal text of a message template (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def python_spelling(name: str, value: str | None) -> str:
    """How the library names arguments: `` `name` ``, ``name=`` and ``name=value``."""
    if value is None:
        return f"`{name}`"
    return f"{name}={value}"


def render_template(template: str, spell: Spelling | None = None) -> str:
    """``template`` with each ``{name}``, ``{name=}`` and ``{name=value}`` field spelled by
    ``spell``, which may answer ``None``: an assignment is then spelled as its ``name=``
    and the value, and anything else as the library spells it. A field ``{name:subject}``
    opens a sentence: ``Argument `name``` in the library's words, the spelling alone in
    another's.

    Example:

    >>> from keras_recipes._validation import render_template
    >>> text = "{out:subject} is taken. Use another {out}, or {resume=False}."
    >>> render_template(text)
    'Argument `out` is taken. Use another `out`, or resume=False.'
    >>> flags = {("out", None): "--out", ("resume", "False"): "--fresh"}
    >>> render_template(text, lambda name, value: flags.get((name, value)))
    '--out is taken. Use another --out, or --fresh.'
    """
    parts = []
    for literal, field, role, _ in string.Formatter().parse(template):
        parts.append(literal)
        if field is None:
            continue
        name, eq, value = field.partition("=")
        value = value if eq else None
        word = spell(name, value) if spell is not None else None
        if word is None and value:  # no word for the assignment: the name's, then the value
            start = spell(name, "") if spell is not None else None
            word = None if start is None else start + value
        if word is None:
            word = python_spelling(name, value)
            word = f"Argument {word}" if role == "subject" else word
        parts.append(word)
    return "".join(parts)


def template_received(**values: Any) -> str:
    """:func:`received` as a message template (see :func:`render_template`)."""
    return "Received: " + ", ".join(f"{{{k}=}}{literal_text(_fmt(v))}" for k, v in values.items())


def received(**values: Any) -> str:
    """``"Received: a=1, b=2"`` for the given keyword values."""
    return render_template(template_received(**values))


class ArgumentError(ValueError):
    """A bad argument: its name, what was required and the value received, as data.

    The message is Keras's (``Argument `x` must be > 0. Received: x=-1``), built from a
    template in which argument names are fields (``{x}`` in prose, ``{x=}`` before a value,
    ``{resume=False}`` for an assignment); :meth:`render` spells them another way, e.g. as
    command-line flags.

    Attributes:
        argument: the argument's name, or ``None`` for an error about several arguments.
        required: what it must be, e.g. ``"> 0"`` or ``"> `min_lr`"``.
        received: the value received.
        values: every value the message shows, by argument name.
        template: the message template (``required`` and ``template`` are templates too:
            literal braces doubled); ``note`` is literal text after the values.

    Example:

    >>> from keras_recipes._validation import ArgumentError, check_number
    >>> try:
    ...     check_number("epochs", 0, low=1, integer=True)
    ... except ArgumentError as exc:
    ...     print(exc.argument, "|", exc.required, "|", exc.received)
    ...     print(exc)
    ...     print(exc.render(lambda name, value: "--" + name + ("=" if value == "" else "")))
    epochs | >= 1 | 0
    Argument `epochs` must be >= 1. Received: epochs=0
    --epochs must be >= 1. Received: --epochs=0
    """

    def __init__(self, argument: str | None, required: str = "", received: Any = None, *,
                 values: Mapping[str, Any] | None = None, template: str | None = None,
                 note: str = ""):
        self.argument, self.received = argument, received
        self.values = dict(values) if values is not None else (
            {} if argument is None else {argument: received})
        self._required = required
        if template is None:
            template = (f"{{{argument}:subject}} must be {required}. "
                        + template_received(**self.values) + literal_text(note))
        self.template = template
        super().__init__(self.render())

    @property
    def required(self) -> str:
        """What the argument must be, in the library's words."""
        return render_template(self._required)

    def render(self, spell: Spelling | None = None) -> str:
        """The message with argument names spelled by ``spell`` (see
        :func:`render_template`); without it, the message itself."""
        return render_template(self.template, spell)

    def __reduce__(self):
        return (_rebuild, (type(self), self.argument, self._required, self.received,
                           self.values, self.template))


def _rebuild(cls, argument, required, received, values, template):
    return cls(argument, required, received, values=values, template=template)


def fail(name: str, requirement: str, value: Any) -> None:
    """Raise :class:`ArgumentError` (``Argument `name` must be <requirement>. Received:
    name=value``); ``requirement`` is literal text."""
    raise ArgumentError(name, literal_text(requirement), value)


#: Largest integer an int64 holds; larger integer arguments overflow in NumPy and TensorFlow.
INT64_MAX = 2**63 - 1
#: Smallest positive normal float32: below it a rate is subnormal or 0 in float32.
FLOAT32_TINY = 1.1754943508222875e-38
#: Largest finite float32.
FLOAT32_MAX = 3.4028234663852886e38


def _is_number(value: Any) -> bool:
    """A finite real number: not a bool, not a string (``"3"`` is text, not a number)."""
    if isinstance(value, bool | str | bytes | complex):
        return False
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if isinstance(kind, str) and kind not in "iuf":  # NumPy bool, text, complex, object
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> Any:
    """Check that ``value`` is a finite number (an integer if asked) within bounds.

    Numbers are Python or NumPy numbers (or 0-d arrays and tensors); a bool, a numeric
    string such as ``"3"`` and anything else is refused. An integer argument also refuses
    a fractional value (``2.5``) and a magnitude beyond int64 (``10**20``), which would
    overflow later in NumPy or the backend.

    Returns ``value`` unchanged so it can be used inline:
    ``self.beta = check_number("beta", beta, low=0, high=1, high_inclusive=False)``.
    """
    too_big = "an integer that fits in int64 (at most 2**63 - 1 in magnitude)"
    if integer and isinstance(value, int) and not isinstance(value, bool) and (
        abs(value) > INT64_MAX
    ):
        fail(name, too_big, value)
    if not _is_number(value):
        fail(name, "an integer" if integer else "a finite number", value)
    if integer and not float(value).is_integer():
        fail(name, "an integer", value)
    if integer and abs(float(value)) >= 2.0**63 and not isinstance(value, int):
        fail(name, too_big, value)
    v = float(value)
    if low is not None and (v < low or (v == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        fail(name, f"{op} {low:g}" + _upper(high, high_inclusive), value)
    if high is not None and (v > high or (v == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        lower = f"{'>=' if low_inclusive else '>'} {low:g} and " if low is not None else ""
        fail(name, lower + f"{op} {high:g}", value)
    return value


def _upper(high: float | None, inclusive: bool) -> str:
    if high is None:
        return ""
    return f" and {'<=' if inclusive else '<'} {high:g}"


def check_positive(name: str, value: Any, *, integer: bool = False) -> Any:
    """Check ``value > 0``."""
    return check_number(name, value, low=0, low_inclusive=False, integer=integer)


def check_non_negative(name: str, value: Any, *, integer: bool = False) -> Any:
    """Check ``value >= 0``."""
    return check_number(name, value, low=0, integer=integer)


def check_learning_rate(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    """Check that ``value`` is a learning rate that float32 holds as a normal number.

    Keras trains in float32: a positive rate below ``1.18e-38`` becomes subnormal or 0
    there (``1e-320`` trains nothing), and one above ``3.4e38`` becomes infinite.
    ``allow_zero`` also accepts ``0`` (a floor such as ``min_lr``).
    """
    if allow_zero and _is_number(value) and float(value) == 0:
        return value
    check_number(name, value, low=0, low_inclusive=False)
    if not FLOAT32_TINY <= float(value) <= FLOAT32_MAX:
        zero = "0 or " if allow_zero else ""
        fail(name, f"{zero}a learning rate float32 can hold, from {FLOAT32_TINY:.3g} to "
             f"{FLOAT32_MAX:.3g} (outside that range it is 0, subnormal or infinite in "
             "float32)", value)
    return value


def check_probability(name: str, value: Any, *, include_one: bool = False) -> Any:
    """Check ``0 <= value < 1`` (or ``<= 1`` with ``include_one``)."""
    return check_number(name, value, low=0, high=1, high_inclusive=include_one)


def check_bool(name: str, value: Any) -> bool:
    """Check that ``value`` is a bool (Python or NumPy); returns it as a Python bool.

    A string such as ``"no"`` would otherwise be truthy and silently mean ``True``.
    """
    if type(value).__name__ not in ("bool", "bool_"):
        fail(name, "a bool (True or False)", value)
    return bool(value)


def check_one_of(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        options = ", ".join(_fmt(a) for a in allowed)
        fail(name, f"one of {{{options}}}", value)
    return value


def check_less(low_name: str, low: Any, high_name: str, high: Any) -> None:
    """Check ``low < high``; the message names both arguments."""
    if not float(low) < float(high):
        raise ArgumentError(high_name, f"> {{{low_name}}}", high,
                            values={low_name: low, high_name: high})


def reject_unknown_kwargs(
    kwargs: dict[str, Any], allowed: Iterable[str] = (), *, owner: str = ""
) -> None:
    """Raise ``ValueError`` when ``kwargs`` holds a key outside ``allowed``.

    Keras itself answers unknown arguments with ``ValueError("Argument(s) not recognized")``;
    the same type is used here so ``except ValueError`` catches every argument error.
    """
    allowed = set(allowed)
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        where = f" for {owner}" if owner else ""
        raise ValueError(
            f"Unknown keyword argument(s){where}: {unknown}. "
            + (f"Allowed: {sorted(allowed)}." if allowed else "This object takes none.")
        )
