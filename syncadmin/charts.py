"""Inline SVG charts for the dashboard: no script, no CDN."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

SERIES = (
    ("created", "#2e7d32", "Created"),
    ("updated", "#1565c0", "Updated"),
    ("failed", "#c62828", "Failed"),
)


def _nice_peak(value: int) -> int:
    """The top of the axis: 1, 2 or 5 times a power of ten, at least `value`."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def runs_per_day_svg(
    days: list[dict[str, Any]], *, width: int = 1100, height: int = 300
) -> SafeString:
    """Accounts created, updated and failed per day as three bars side by side, each with its
    number written above it, so the chart reads without hovering."""
    if not any(d[key] for d in days for key, _, _ in SERIES):
        return format_html(
            '<p id="runs-chart-empty">{}</p>', "No accounts synced in the last 30 days."
        )
    pad_left, pad_right, pad_top, pad_bottom = 64, 10, 46, 52
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    peak = _nice_peak(max(d[key] for d in days for key, _, _ in SERIES))
    slot = plot_w / len(days)
    bar = slot * 0.8 / len(SERIES)
    base = pad_top + plot_h

    def y(value: int) -> float:
        return base - value / peak * plot_h

    parts: list[SafeString] = []
    for tick in (0, peak // 2, peak):  # value axis: gridlines and their numbers
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>',
                pad_left,
                f"{y(tick):.1f}",
                pad_left + plot_w,
                f"{y(tick):.1f}",
                "#999" if tick == 0 else "#e4e4e4",
                pad_left - 6,
                f"{y(tick) + 4:.1f}",
                f"{tick:,}",
            )
        )
    parts.append(
        format_html(
            '<text transform="translate(14 {}) rotate(-90)" font-size="12" '
            'text-anchor="middle">Accounts</text>'
            '<text x="{}" y="{}" font-size="12" text-anchor="middle">Day (UTC)</text>',
            f"{pad_top + plot_h / 2:.1f}",
            f"{pad_left + plot_w / 2:.1f}",
            height - 4,
        )
    )
    for i, day in enumerate(days):
        left = pad_left + i * slot + slot * 0.1
        centre = pad_left + (i + 0.5) * slot
        month = f"{day['day']:%b}" if i == 0 or day["day"].day == 1 else ""
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>'
                '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#555">{}'
                "</text>",
                f"{centre:.1f}",
                base + 14,
                day["day"].day,
                f"{centre:.1f}",
                base + 27,
                month,
            )
        )
        for j, (key, colour, name) in enumerate(SERIES):
            value = day[key]
            if not value:
                continue
            x = left + j * bar
            parts.append(
                format_html(
                    '<rect class="bar series-{}" x="{}" y="{}" width="{}" '
                    'height="{}" fill="{}"><title>{}: {} {}</title></rect>'
                    '<text transform="translate({} {}) rotate(-90)" font-size="10" '
                    'fill="{}">{}</text>',
                    key,
                    f"{x:.1f}",
                    f"{y(value):.1f}",
                    f"{bar - 1:.1f}",
                    f"{base - y(value):.1f}",
                    colour,
                    f"{day['day']:%Y-%m-%d}",
                    f"{value:,}",
                    name.lower(),
                    f"{x + bar / 2 + 3:.1f}",
                    f"{y(value) - 3:.1f}",
                    colour,
                    f"{value:,}",
                )
            )
    legend = format_html_join(
        " ", '<span style="color:{}">&#9632; {}</span>', ((c, lab) for _, c, lab in SERIES)
    )
    return format_html(
        '<svg id="runs-chart" role="img" aria-label="Accounts created, updated and failed per '
        'day, last 30 days" width="{}" height="{}" viewBox="0 0 {} {}">{}</svg><p>{}</p>',
        width,
        height,
        width,
        height,
        format_html_join("", "{}", ((part,) for part in parts)),
        legend,
    )
