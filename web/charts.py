"""Charts as SVG, drawn on the server by pygal: nothing for the browser to fetch or run.

pygal writes a small inline script for its optional tooltip library; without that library
(which it would load from a CDN) the script does nothing, so it is taken out, and the page's
Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import pygal
from markupsafe import Markup
from pygal.style import Style

_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#999",
    colors=("#2f6f9f", "#d9822b", "#c23030", "#5a8f29"),
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=10,
    legend_font_size=11,
    title_font_size=13,
)


def _svg(chart: pygal.graph.graph.Graph) -> Markup:
    # pygal escapes every label and value it writes (it builds the SVG as an XML tree).
    return Markup(_SCRIPT.sub("", chart.render(is_unicode=True)))


def _options(width: int, height: int, **extra: object) -> dict[str, object]:
    return {
        "style": _STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": True,
        "width": width,
        "height": height,
        "show_legend": False,
        "margin": 4,
        "truncate_label": -1,
        **extra,
    }


def _whole_numbers(top: int, ticks: int = 5) -> list[int]:
    """Counts are whole: y labels 0, step, 2*step... up to the top or just past it."""
    step = max(1, -(-top // ticks))
    return list(range(0, top + step, step))


def per_day(counts: Sequence[tuple[date, int]], *, width: int = 640, height: int = 200,
            title: str | None = None) -> Markup:
    """Articles per day as bars; a label every week or so."""
    small = width < 300
    step = max(1, len(counts) // (4 if small else 8))
    chart = pygal.Bar(
        **_options(
            width,
            height,
            title=title,
            show_y_labels=not small,
            show_x_labels=not small,
            x_labels_major_every=step,
            show_minor_x_labels=False,
            show_y_guides=not small,
            spacing=1,
        )
    )
    chart.x_labels = [d.strftime("%b %d") for d, _ in counts]
    chart.y_labels = _whole_numbers(max((n for _, n in counts), default=0))
    chart.add("articles", [n for _, n in counts])
    return _svg(chart)


def fill_rates(rates: dict[str, float], *, width: int = 640, height: int = 240) -> Markup:
    """The share of articles with each metadata field, as horizontal bars in percent."""
    chart = pygal.HorizontalBar(
        **_options(
            width, height, title="metadata filled (% of articles)", range=(0, 100), print_values=True
        )
    )
    chart.value_formatter = lambda v: f"{v:.0f}%"
    chart.x_labels = list(rates)
    chart.add("filled", [round(100 * v, 1) for v in rates.values()])
    return _svg(chart)


def runs(labels: Sequence[str], series: dict[str, Sequence[int]], *, width: int = 640,
         height: int = 220) -> Markup:
    """Counts per crawl run, oldest first, one bar per count."""
    chart = pygal.Bar(
        **_options(
            width,
            height,
            title="per run",
            show_legend=True,
            legend_at_bottom=True,
            x_label_rotation=0,
            show_minor_x_labels=False,
            x_labels_major_every=max(1, len(labels) // 6),
        )
    )
    chart.x_labels = list(labels)
    chart.y_labels = _whole_numbers(max((max(v, default=0) for v in series.values()), default=0))
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart)
