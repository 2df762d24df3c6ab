"""Allure output: capture plots with their limits, raw samples as CSV, the run's environment."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field

import allure
import numpy as np

from harness.dsp.waveform import Waveform
from harness.measurement import Measurement
from harness.roles import Capture

MAX_PLOT_POINTS = 1_600  # beyond this, min/max per pixel column (about 800 across) draws the envelope
collecting = False  # set by the plugin when pytest writes Allure results (--alluredir)


@dataclass
class PlotMarks:
    """What to draw over a capture: horizontal limit lines per axis and measured spans."""

    line_v: list[tuple[float, str]] = field(default_factory=list)  # (volts, label)
    loop_ma: list[tuple[float, str]] = field(default_factory=list)  # (mA, label)
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # (t0_s, t1_s, label), bench time
    events: list[tuple[float, str]] = field(default_factory=list)  # (t_s, label), bench time


def limit_lines(m: Measurement, scale: float = 1.0) -> list[tuple[float, str]]:
    """The measurement's limits as (axis value, label) lines; scale maps the measurement's
    unit onto the plot axis (mA are plotted as is; -1 draws a magnitude limit on a negative line)."""
    return [(v * scale, f"{which} {v:g} {m.unit}") for which, v in (("low", m.limit.low), ("high", m.limit.high))
            if v is not None]


def _envelope(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Min and max per plot column when there are more samples than the plot can show, so a
    ring burst is drawn as its envelope (as a scope's peak-detect display does); else None."""
    if len(y) <= MAX_PLOT_POINTS:
        return None
    n = len(y) // (MAX_PLOT_POINTS // 2)
    m = len(y) // n * n
    yb = y[:m].reshape(-1, n)
    return t[:m].reshape(-1, n)[:, 0], yb.min(axis=1), yb.max(axis=1)


def capture_png(capture: Capture, title: str, marks: PlotMarks) -> bytes:
    """A two-panel plot (tip-ring volts, loop mA) against seconds from the capture start."""
    import matplotlib  # noqa: PLC0415 - loaded only when a report is being written

    matplotlib.use("Agg")  # no display on a bench PC service or in CI
    import matplotlib.pyplot as plt  # noqa: PLC0415

    t0 = capture.line_v.start_s
    fig, (ax_v, ax_i) = plt.subplots(2, 1, sharex=True, figsize=(10, 5.5), dpi=90)
    for ax, w, scale, unit, lines in ((ax_v, capture.line_v, 1.0, "V", marks.line_v),
                                      (ax_i, capture.loop_i, 1e3, "mA", marks.loop_ma)):
        t, y = w.times_s - t0, w.samples * scale
        env = _envelope(t, y)
        if env is None:
            ax.plot(t, y, lw=0.6, color="#1f4e79")
        else:
            ax.fill_between(*env, lw=0.6, color="#1f4e79", edgecolor="#1f4e79")
        for value, label in lines:
            ax.axhline(value, color="#c00000", ls="--", lw=1)
            ax.annotate(label, (t[-1] if len(t) else 0, value), fontsize=7, color="#c00000",
                        ha="right", va="bottom")
        ax.set_ylabel(f"{'tip-ring' if unit == 'V' else 'loop'} ({unit})")
        ax.grid(alpha=0.3)
        if w.clipped:
            ax.set_title("CLIPPED at the input range", color="#c00000", fontsize=8, loc="right")
    for a, b, label in marks.spans:
        ax_v.axvspan(a - t0, b - t0, color="#70ad47", alpha=0.15)
        ax_v.annotate(label, ((a + b) / 2 - t0, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                      ha="center", va="bottom")
    for t, label in marks.events:
        for ax in (ax_v, ax_i):
            ax.axvline(t - t0, color="#7f7f7f", lw=0.8)
        ax_i.annotate(label, (t - t0, 0.02), xycoords=("data", "axes fraction"), fontsize=7, rotation=90)
    ax_i.set_xlabel(f"seconds from bench time {t0:.3f} s")
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.1, hspace=0.12)  # tight_layout costs 40 ms
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def capture_csv(capture: Capture) -> str:
    """time_s (bench), line_v, loop_a: the raw scaled samples."""
    rows = zip(capture.line_v.times_s.tolist(), capture.line_v.samples.tolist(), capture.loop_i.samples.tolist())
    return "time_s,line_v,loop_a\n" + "\n".join(f"{t:.6f},{v:.6g},{i:.6g}" for t, v, i in rows) + "\n"


def attach_capture(capture: Capture, title: str, marks: PlotMarks | None = None) -> None:
    """Attach the plot and the raw samples of a capture to the running Allure test (rendered only
    when the run writes Allure results: a plain `pytest testplans` pays nothing for them)."""
    if not collecting:
        return
    marks = marks or PlotMarks()
    marks.events = marks.events or capture.events
    allure.attach(capture_png(capture, title, marks), name=f"{title}.png", attachment_type=allure.attachment_type.PNG)
    allure.attach(capture_csv(capture), name=f"{title}.csv", attachment_type=allure.attachment_type.CSV)


def spectrum_png(w: Waveform, title: str, boxes: list[tuple[float, float, float, float, str]],
                 band_hz: tuple[float, float] = (200.0, 1000.0)) -> bytes:
    """Level spectrum (dBm into 600 ohm per line, Hann window scaled so a tone reads its own
    level) with each limit drawn as a box: (f_low, f_high, level_low, level_high, label)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    x = w.samples - w.samples.mean()
    window = np.hanning(len(x))
    vrms = np.abs(np.fft.rfft(x * window)) * 2 / window.sum() / np.sqrt(2)
    freqs = np.fft.rfftfreq(len(x), 1 / w.sample_rate_hz)
    keep = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    dbm = 10 * np.log10(np.maximum(vrms[keep], 1e-9) ** 2 / 600 / 1e-3)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=90)
    ax.plot(freqs[keep], dbm, lw=0.7, color="#1f4e79")
    for f0, f1, l0, l1, label in boxes:
        ax.add_patch(plt.Rectangle((f0, l0), f1 - f0, l1 - l0, fill=False, ec="#c00000", lw=1.2))
        ax.annotate(label, (f1, l1), fontsize=7, color="#c00000", va="bottom")
    ax.set_xlabel("Hz")
    ax.set_ylabel("dBm (600 ohm)")
    ax.set_ylim(max(dbm.min(), -100), max(dbm.max(), max((b[3] for b in boxes), default=-100)) + 5)
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def attach_spectrum(w: Waveform, title: str, boxes: list[tuple[float, float, float, float, str]]) -> None:
    """Attach a tone capture's spectrum with its frequency/level limit boxes."""
    if collecting:
        allure.attach(spectrum_png(w, title, boxes), name=f"{title}.png", attachment_type=allure.attachment_type.PNG)


def measurement_table_html(measurements: list[Measurement]) -> str:
    """The test's measurements as a self-contained HTML table (name, value, limits, outcome,
    requirement), for reading in the report without opening the JSON."""
    colours = {"pass": "#e2efda", "marginal": "#fff2cc", "fail": "#f8cbad"}
    rows = []
    for m in measurements:
        value = "missing" if m.value is None else f"{m.value:.6g}"
        rows.append(
            f'<tr style="background:{colours[m.outcome.value]}"><td>{html.escape(m.name)}</td>'
            f"<td style='text-align:right'>{value}</td><td>{html.escape(m.unit)}</td>"
            f"<td>{html.escape(m.limit.describe())}</td><td><b>{m.outcome.value.upper()}</b></td>"
            f"<td title='{html.escape(m.limit.source)}'>{html.escape(m.requirement)}</td>"
            f"<td>{html.escape(m.note)}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("measurement", "value", "unit", "limit", "outcome", "requirement", "note"))
    return ("<html><body style='font-family:sans-serif;font-size:13px'>"
            "<table class='tipring-measurements' border='1' cellpadding='4' style='border-collapse:collapse'>"
            f"<tr>{head}</tr>{''.join(rows)}</table></body></html>")
