"""The synthetic shop's browsing: every customer's sessions (a purchase's, browsing that thins out over the
weeks before the customer's death, visits after it, anonymous visitors) and the events of each session.
include.synthetic draws them after the orders and lines, and writes them as the events table."""

from __future__ import annotations

from datetime import date

import numpy as np

from include.synthetic_world import SEASON, pick_products, poisson_process, season

DAY_US = 86_400_000_000


def sessions(
    rng: np.random.Generator, c: dict, buyer: np.ndarray, order_day: np.ndarray, horizon: float, start: date
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (customer or -1, day, order or -1) of every session by time: purchases, browsing, visitors."""
    n, alive_until = c["signup"].size, np.minimum(c["death"], horizon)
    owner, day = poisson_process(rng, c["signup"], alive_until, c["browse"] * SEASON.max())
    fade = 0.15 + 0.85 * np.clip((c["death"][owner] - day) / c["lapse_days"][owner], 0.0, 1.0)
    keep = rng.random(day.size) * SEASON.max() < season(start, day) * fade
    late_owner, late_day = poisson_process(rng, alive_until, np.full(n, horizon), c["browse"] * 0.02)
    known_day = np.concatenate([order_day, day[keep], late_day])
    n_anonymous = round(0.2 * known_day.size) if known_day.size else 0
    anonymous_day = known_day[rng.integers(0, max(known_day.size, 1), n_anonymous)]
    anonymous_day = np.clip(anonymous_day + rng.normal(0.0, 3.0, n_anonymous), 0.0, horizon - 0.01)
    customer = np.concatenate([buyer, owner[keep], late_owner, np.full(n_anonymous, -1)])
    order = np.concatenate([np.arange(buyer.size), np.full(customer.size - buyer.size, -1)])
    day = np.concatenate([known_day, anonymous_day])
    by_time = np.argsort(day, kind="stable")
    return customer[by_time], day[by_time], order[by_time]


def events(
    rng: np.random.Generator,
    c: dict,
    customer: np.ndarray,
    day: np.ndarray,
    order: np.ndarray,
    lines: dict,
    catalogue: dict,
    horizon: float,
) -> dict[str, np.ndarray]:
    """Return every event of every session: type, product and microseconds since the start date."""
    n, purchase = day.size, order >= 0
    lines_of = np.append(lines["count"], 0)[order]  # order -1 (no order) reads the appended 0
    views = lines_of + rng.poisson(np.where(purchase, 0.2, 0.8))
    carts = np.where(purchase, lines_of, (views > 0) & (rng.random(n) < 0.12))
    checkouts = np.where(purchase, 1, (carts > 0) & (rng.random(n) < 0.3))
    bounds = np.cumsum([np.ones(n, np.int64), views, carts, checkouts, purchase], axis=0)
    session = np.repeat(np.arange(n), bounds[-1])
    first = np.cumsum(bounds[-1]) - bounds[-1]
    position = np.arange(session.size) - first[session]
    kind = sum((position >= bounds[k][session]).astype(np.int8) for k in range(4))
    product = np.full(session.size, -1)
    slot = position - np.where(kind == 1, bounds[0][session], bounds[1][session])  # nth view or nth cart
    line = np.append(lines["first"], 0)[order][session] + slot
    bought = purchase[session] & (((kind == 1) & (slot < lines_of[session])) | (kind == 2))
    product[bought] = lines["product"][line[bought]]
    browsed = (kind == 1) & ~bought
    favourite = np.where(customer >= 0, c["favourite"][np.maximum(customer, 0)], -1)
    product[browsed] = pick_products(rng, favourite[session[browsed]], catalogue)
    abandoned = np.flatnonzero((kind == 2) & ~purchase[session])
    product[abandoned] = product[abandoned - 1]  # an abandoned cart holds the product viewed just before
    gap = np.rint((2.0 + rng.exponential(45.0, session.size)) * 1e6).astype(np.int64)
    gap[first] = 0
    elapsed = np.cumsum(gap)
    elapsed -= elapsed[first][session]
    duration = elapsed[first + bounds[-1] - 1]
    anchor = np.floor(day * DAY_US).astype(np.int64)
    room = anchor - np.floor(c["signup"][np.maximum(customer, 0)] * DAY_US).astype(np.int64)
    scale = np.where(purchase, np.minimum(1.0, 0.9 * room / np.maximum(duration, 1)), 1.0)
    # a purchase session ends at the order time; other sessions start at their time, within the window
    anchor = np.where(purchase, anchor, np.minimum(anchor, round(horizon * DAY_US) - 1 - duration))
    offset = np.rint((elapsed - np.where(purchase, duration, 0)[session]) * scale[session]).astype(np.int64)
    return {
        "session": session,
        "customer": customer[session],
        "kind": kind,
        "product": product,
        "at_us": anchor[session] + offset,
    }
