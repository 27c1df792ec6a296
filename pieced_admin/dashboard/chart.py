"""A stacked bar chart laid out for server-rendered SVG: bars, axis ticks, month labels and a legend.

The geometry is computed here (and tested) so the template only draws it.
Positions are Decimal, like the amounts they stand for, rounded to 0.1 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from ..billing.money import format_grouped

# Distinguishable for colour-blind readers (Okabe–Ito), in the order series appear.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
PX = Decimal("0.1")


@dataclass(frozen=True)
class Series:
    """One stacked part of every bar (e.g. one billing entity), with one value per column."""

    key: str
    label: str
    values: tuple[Decimal, ...]


@dataclass
class Bar:
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    color: str
    title: str
    link: dict | None = None   # query arguments of the invoice list behind the segment


@dataclass
class Tick:
    y: Decimal
    label: str


@dataclass
class ColumnLabel:
    x: Decimal
    label: str
    sublabel: str = ""
    total: Decimal = Decimal("0")


@dataclass
class LegendItem:
    color: str
    label: str
    total: Decimal


@dataclass
class BarChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    axis_label: str
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    columns: list[ColumnLabel] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    maximum: Decimal = Decimal("0")

    @property
    def empty(self) -> bool:
        return not self.bars

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height


def nice_step(maximum: Decimal, max_ticks: int = 5) -> Decimal:
    """A round tick step (1, 2 or 5 × 10ⁿ) so that at most `max_ticks` steps cover `maximum`."""
    if maximum <= 0:
        return Decimal(1)
    raw = maximum / max_ticks
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        step = magnitude * factor
        if step >= raw:
            return step
    return magnitude * 10  # pragma: no cover - the loop always returns


def axis_amount(value: Decimal) -> str:
    """A tick label: whole francs with the Swiss apostrophe (1’000)."""
    return format_grouped(value, 0)


def stacked_bars(
    columns: list[tuple[str, str]],
    series: list[Series],
    *,
    width: int = 760,
    height: int = 280,
    axis_label: str = "CHF",
    title_of=None,
    link_of=None,
) -> BarChart:
    """Lay out one stacked bar per column (label, sublabel); `title_of(series, i, value)` and
    `link_of(series, i)` give each segment its tooltip and the filter of the list behind it."""
    left, right, top, bottom = 64, 12, 26, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    chart = BarChart(width=width, height=height, left=left, top=top, plot_width=plot_w, plot_height=plot_h,
                     axis_label=axis_label)
    n = len(columns)
    totals = [sum((s.values[i] for s in series), Decimal(0)) for i in range(n)]
    peak = max(totals, default=Decimal(0))
    step = nice_step(peak)
    top_value = (peak / step).to_integral_value(rounding=ROUND_CEILING) * step if peak > 0 else step
    chart.maximum = top_value
    scale = Decimal(plot_h) / top_value

    tick = Decimal(0)
    while tick <= top_value:
        chart.ticks.append(Tick(y=(Decimal(top + plot_h) - tick * scale).quantize(PX), label=axis_amount(tick)))
        tick += step

    slot = Decimal(plot_w) / max(n, 1)
    bar_w = (slot * Decimal("0.62")).quantize(PX)
    for i, (label, sublabel) in enumerate(columns):
        x = (Decimal(left) + slot * i + (slot - bar_w) / 2).quantize(PX)
        chart.columns.append(ColumnLabel(x=(x + bar_w / 2).quantize(PX), label=label, sublabel=sublabel,
                                         total=totals[i]))
        base = Decimal(top + plot_h)
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = (value * scale).quantize(PX)
            base -= h
            chart.bars.append(Bar(
                x=x, y=base.quantize(PX), width=bar_w, height=h, color=PALETTE[k % len(PALETTE)],
                title=title_of(s, i, value) if title_of else f"{s.label}: {value}",
                link=link_of(s, i) if link_of else None,
            ))
    chart.legend = [LegendItem(color=PALETTE[k % len(PALETTE)], label=s.label, total=sum(s.values, Decimal(0)))
                    for k, s in enumerate(series)]
    return chart
