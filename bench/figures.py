"""How the benchmarks write a measured figure: cut to a number of decimals, never rounded up."""

from __future__ import annotations

import math


def cut(value: float, digits: int = 1) -> str:
    """Return a non-negative value cut to `digits` decimals, with thousands separators (1234.56 -> 1,234.5).

    1e-9 absorbs the binary error of the scaling: 0.29 * 100 is 28.999..., which must still read 0.29.
    """
    scale = 10**digits
    return f"{math.floor(value * scale + 1e-9) / scale:,.{digits}f}"
