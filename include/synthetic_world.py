"""The synthetic shop's world: where its customers live, how they arrive and buy, what it sells, its seasons.

The lookup tables below and the random processes drawn from them (each customer's hidden buying and dropout
rates, the product catalogue, seasonal Poisson arrivals) are what include.synthetic turns into the raw
tables. Changing any of them changes every generated shop: the tests and benchmarks pin seed 42's.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

COUNTRIES = {  # country: (region, weight)
    "GB": ("UK & Ireland", 30),
    "IE": ("UK & Ireland", 4),
    "DE": ("Europe", 12),
    "FR": ("Europe", 9),
    "NL": ("Europe", 5),
    "ES": ("Europe", 5),
    "IT": ("Europe", 4),
    "SE": ("Europe", 3),
    "US": ("North America", 16),
    "CA": ("North America", 4),
    "AU": ("Asia-Pacific", 5),
    "JP": ("Asia-Pacific", 2),
    "SG": ("Asia-Pacific", 1),
}
CHANNELS = {  # channel: (weight, purchase-rate multiplier, dropout-rate multiplier)
    "organic": (30, 1.00, 0.90),
    "paid_search": (22, 0.95, 1.10),
    "social": (18, 0.90, 1.40),
    "email": (10, 1.15, 0.75),
    "referral": (10, 1.10, 0.70),
    "affiliate": (10, 0.90, 1.15),
}
AGE_BANDS = {  # band: (weight, purchase-rate, dropout-rate and spend multipliers, share of orders in the app)
    "18-24": (14, 0.90, 1.25, 0.80, 0.60),
    "25-34": (24, 1.05, 1.10, 0.95, 0.50),
    "35-44": (22, 1.10, 1.00, 1.05, 0.40),
    "45-54": (18, 1.00, 0.90, 1.15, 0.30),
    "55-64": (13, 0.95, 0.85, 1.10, 0.20),
    "65+": (9, 0.85, 0.85, 1.00, 0.15),
}
CATEGORIES = {  # category: (weight, median list price, log-price spread, product nouns)
    "fashion": (20, 30.0, 0.5, ("Jacket", "Shirt", "Dress", "Scarf")),
    "home": (16, 35.0, 0.6, ("Lamp", "Rug", "Vase", "Throw")),
    "beauty": (14, 18.0, 0.5, ("Serum", "Cream", "Palette", "Mist")),
    "electronics": (12, 60.0, 0.6, ("Headphones", "Speaker", "Charger", "Tablet")),
    "sports": (10, 40.0, 0.5, ("Trainers", "Yoga Mat", "Bottle", "Racket")),
    "books": (10, 12.0, 0.35, ("Novel", "Cookbook", "Atlas", "Journal")),
    "grocery": (10, 7.0, 0.4, ("Coffee", "Tea", "Olive Oil", "Chocolate")),
    "toys": (8, 22.0, 0.5, ("Puzzle", "Robot", "Plush", "Blocks")),
}
ADJECTIVES = np.array(["Classic", "Compact", "Deluxe", "Eco", "Essential", "Pro", "Smart", "Vintage"])
SEASON = np.array([1.0] * 10 + [1.6, 1.6]) / (11.2 / 12)  # intensity by month, averaging 1: Nov-Dec peak


def weights(values: list[float]) -> np.ndarray:
    """Return the weights normalised to probabilities."""
    array = np.asarray(values, dtype=float)
    return array / array.sum()


def column(table: dict, index: int) -> np.ndarray:
    """Return field `index` of every row of a lookup table, as an array."""
    return np.array([row[index] for row in table.values()])


def season(start: date, days: np.ndarray) -> np.ndarray:
    """Return the seasonal intensity multiplier of each fractional day since the start date."""
    months = (np.datetime64(start, "D") + days.astype(np.int64)).astype("datetime64[M]").astype(np.int64)
    return SEASON[months % 12]


def poisson_process(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, rate: np.ndarray):
    """Return (owner, day) of a Poisson process per owner at `rate` per day on [lo, hi)."""
    length = np.clip(hi - lo, 0.0, None)
    owner = np.repeat(np.arange(lo.size), rng.poisson(rate * length))
    return owner, lo[owner] + rng.random(owner.size) * length[owner]


def latent_customers(rng: np.random.Generator, n: int, horizon: float) -> dict[str, np.ndarray]:
    """Return each customer's profile and hidden behaviour (rates per day, times in days since start)."""
    span = horizon - 30.0
    growth = np.log(2.0) / span  # twice as many sign-ups per day at the end as at the start
    signup = np.sort(np.log1p(rng.random(n) * np.expm1(growth * span)) / growth)
    country = rng.choice(len(COUNTRIES), n, p=weights(column(COUNTRIES, 1)))
    channel = rng.choice(len(CHANNELS), n, p=weights(column(CHANNELS, 0)))
    age = rng.choice(len(AGE_BANDS), n, p=weights(column(AGE_BANDS, 0)))
    rate = rng.gamma(0.7, 4.1 / 0.7, n) * column(CHANNELS, 1)[channel] * column(AGE_BANDS, 1)[age] / 365
    dropout = rng.gamma(3.0, 0.8 / 3.0, n) * column(CHANNELS, 2)[channel] * column(AGE_BANDS, 2)[age] / 365
    death = signup + np.minimum(rng.exponential(1.0 / dropout), 36_525.0)
    spend = 5.0 + rng.gamma(2.5, 60.0 / 2.5, n) * column(AGE_BANDS, 3)[age]
    return {
        "signup": signup,
        "country": country,
        "channel": channel,
        "age": age,
        "rate": rate,
        "dropout": dropout,
        "death": death,
        "spend": spend,
        "browse": rate * 2.2 * rng.lognormal(-0.06, 0.35, n),
        "lapse_days": rng.uniform(60.0, 90.0, n),
        "favourite": rng.choice(len(CATEGORIES), n, p=weights(column(CATEGORIES, 0))),
        "app_share": column(AGE_BANDS, 4)[age],
    }


def make_catalogue(rng: np.random.Generator, customers: int) -> dict[str, np.ndarray]:
    """Return the products, grouped by category, with a search key for popularity-weighted picks."""
    n = min(400, 200 + customers // 500)
    category = np.sort(rng.choice(len(CATEGORIES), n, p=weights(column(CATEGORIES, 0))))
    median, spread = column(CATEGORIES, 1)[category], column(CATEGORIES, 2)[category]
    price = np.maximum(np.round(median * rng.lognormal(0.0, spread)) - 0.01, 0.99)
    popularity = rng.pareto(1.5, n) + 0.1
    cumulative = pd.Series(popularity).groupby(category).transform(lambda w: w.cumsum() / w.sum())
    within = cumulative.to_numpy(copy=True)
    within[np.r_[category[1:] != category[:-1], True]] = 1.0  # the last product of a category ends at 1
    nouns = np.array([noun for row in CATEGORIES.values() for noun in row[3]])
    noun = category * 4 + rng.integers(0, 4, n)
    return {
        "category": category,
        "price": price,
        "cost": np.round(price * rng.uniform(0.35, 0.7, n), 2),
        "key": category + within,
        "name": ADJECTIVES[rng.integers(0, len(ADJECTIVES), n)] + " " + nouns[noun],
    }


def pick_products(rng: np.random.Generator, favourite: np.ndarray, catalogue: dict) -> np.ndarray:
    """Return a product per item: ~60% from the favourite category (when >= 0), else by popularity."""
    other = rng.choice(len(CATEGORIES), favourite.size, p=weights(column(CATEGORIES, 0)))
    category = np.where((favourite >= 0) & (rng.random(favourite.size) < 0.55), favourite, other)
    return np.searchsorted(catalogue["key"], category + rng.random(favourite.size), side="right")
