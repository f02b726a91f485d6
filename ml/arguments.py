"""Argument types the `cvw` verbs share with argparse."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(minimum: int, below: str = "{value} is not at least {minimum}") -> Callable[[str], int]:
    """Return an argparse type: a whole number of at least `minimum`, `below` the message when it is less.

    A bad value is refused with one sentence, never taken as the default unnoticed (0 used to be).
    """

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(below.format(value=value, minimum=minimum))
        return number

    return parse
