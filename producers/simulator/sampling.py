"""Random draws from the calibration tables: quantile tables joined by a Gaussian copula. Pure."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import TypeVar

from producers.simulator.calibration import QUANTILE_LEVELS

T = TypeVar("T")
_NORMAL = NormalDist()


def from_quantiles(table: Sequence[float], u: float, levels: Sequence[float] = QUANTILE_LEVELS) -> float:
    """The value at probability u (0..1) of a quantile table, linear between levels."""
    p = min(max(u, 0.0), 1.0) * 100
    i = min(bisect.bisect_right(levels, p) - 1, len(levels) - 2)
    lo, hi = levels[i], levels[i + 1]
    f = (p - lo) / (hi - lo) if hi > lo else 0.0
    return table[i] + (table[i + 1] - table[i]) * f


def cholesky(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    n = len(matrix)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = sum(low[i][k] * low[j][k] for k in range(j))
            low[i][j] = math.sqrt(matrix[i][i] - s) if i == j else (matrix[i][j] - s) / low[j][j]
    return low


class Copula:
    """Correlated uniforms: normal draws through the Cholesky factor of a correlation matrix."""

    def __init__(self, correlation: Sequence[Sequence[float]]) -> None:
        self._low = cholesky(correlation)

    def uniforms(self, rng: random.Random) -> list[float]:
        g = [rng.gauss(0.0, 1.0) for _ in self._low]
        return [_NORMAL.cdf(sum(row[k] * g[k] for k in range(i + 1))) for i, row in enumerate(self._low)]


def weighted(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small (incidents over a horizon)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
