"""Axis tick rules: readable log labels (decades, or 1-2-5 on short ranges) and whole-number
ticks on index axes (timesteps, units, steps)."""

from __future__ import annotations

import math

import pyqtgraph as pg

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_power(m: int, d: int) -> str:
    """``m * 10**d`` as short text: plain when moderate, else ``m·10ᵈ``."""
    if -3 <= d <= 3:
        v = m * 10.0**d
        return f"{v:.{max(0, -d)}f}" if d < 0 else f"{v:g}"
    power = "10" + str(d).translate(SUPERSCRIPT)
    return power if m == 1 else f"{m}·{power}"


class Axis(pg.AxisItem):
    """An axis with ``integer`` ticks for index data and decade labels in log mode."""

    def __init__(self, orientation: str, integer: bool = False, **kw):
        super().__init__(orientation, **kw)
        self.integer = integer

    def tickSpacing(self, minVal, maxVal, size):
        levels = super().tickSpacing(minVal, maxVal, size)
        if not self.integer or self.logMode:
            return levels
        whole = [(max(1.0, float(round(s))), o) for s, o in levels if s >= 0.999]
        return whole or [(1.0, 0.0)]

    def tickValues(self, minVal, maxVal, size):
        if not self.logMode or not (math.isfinite(minVal) and math.isfinite(maxVal)):
            return super().tickValues(minVal, maxVal, size)
        lo, hi = sorted((minVal, maxVal))
        span = hi - lo
        mantissas = (1, 2, 5) if span < 1.5 else (1,)
        labelled, minor = [], []
        for d in range(math.floor(lo) - 1, math.ceil(hi) + 1):
            for m in range(1, 10):
                v = d + math.log10(m)
                if lo <= v <= hi:
                    (labelled if m in mantissas else minor).append(v)
        if span > 6:  # many decades: label every k-th decade, no minor ticks
            k = math.ceil(span / 6)
            labelled = [v for v in labelled if round(v) % k == 0]
            minor = []
        return [(1.0, labelled), (None, minor)]

    def tickStrings(self, values, scale, spacing):
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        if spacing is None:
            return ["" for _ in values]
        out = []
        for v in values:
            d = math.floor(v + 1e-9)
            m = round(10 ** (v - d))
            if m == 10:
                d, m = d + 1, 1
            out.append(format_power(m, d))
        return out


def axes(integer_x: bool = False, integer_y: bool = False, right: bool = False
         ) -> dict[str, Axis]:
    """Bottom and left axes (and a right one if asked; every axis given is shown)."""
    found = {"bottom": Axis("bottom", integer=integer_x), "left": Axis("left", integer=integer_y)}
    if right:
        found["right"] = Axis("right")
    return found
