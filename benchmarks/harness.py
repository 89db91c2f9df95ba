"""Shared benchmark plumbing.

- timing: warm-up, repeats, median with min and max (`measure`);
- isolation: every measured configuration runs in its own subprocess (`run_child`), so peak RSS and
  CPU time are that library's alone (read from `os.wait4`, the kernel's per-process accounting);
- records: one JSON line per measurement, each with the run id, machine, library versions and the
  bench parameters, appended to `results/<bench>.jsonl` (`Recorder`);
- reports: Markdown tables (`markdown_table`) and matplotlib PNGs (`grouped_bars`, `line_grid`).

A child prints its results as lines starting with `RESULT_PREFIX` followed by JSON, so whatever a
library prints itself (logs, progress bars) cannot be mistaken for a result.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RESULT_PREFIX = "@@bench "
LIBRARIES = ("tokfree", "tiktoken", "tokenizers", "sentencepiece", "numpy")
# Short names used in tables and records, and the PyPI distribution each one is.
DISTRIBUTION = {"tokfree": "tokfree", "tiktoken": "tiktoken", "hf": "tokenizers", "spm": "sentencepiece"}


# --- machine ------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None


def versions() -> dict[str, str]:
    found = {}
    for package in LIBRARIES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def machine() -> dict[str, object]:
    """Where and with what a run was made: CPU, cores, memory, load, Python, versions, git commit."""
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory,
        # The machine is shared: a load above ~0.5 at the start means the numbers are noisier.
        "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "git": _git_commit(),
    }


# --- timing -------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds of each repeat (after the warm-up), with their median, min and max."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def max(self) -> float:
        return max(self.seconds)

    def as_dict(self) -> dict[str, object]:
        return {"seconds_median": self.median, "seconds_min": self.min, "seconds_max": self.max, "seconds_all": self.seconds}


def measure(run: Callable[[], object], *, repeats: int = 3, warmup: int = 1) -> tuple[Timing, object]:
    """Runs `run` `warmup` times untimed, then `repeats` times timed; returns the timing and the last result."""
    result = None
    for _ in range(warmup):
        result = run()
    times = []
    for _ in range(max(1, repeats)):
        result = None  # free the previous result first, so two results never sit in memory together
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return Timing(times), result


def _vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak RSS (VmHWM) of a live process's current address space, in MB; None if unavailable."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError):
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB.

    VmHWM, not getrusage: after fork+exec Linux folds the parent's peak into the child's
    ru_maxrss, so a child of a 250 MB parent would never report less than 250 MB.
    """
    hwm = _vm_hwm_mb()
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def emit(record: dict[str, object]) -> None:
    """A child's way to hand one result to the parent (with the child's peak RSS so far)."""
    print(RESULT_PREFIX + json.dumps({**record, "peak_rss_mb_self": peak_rss_mb()}), flush=True)


# --- subprocesses ---------------------------------------------------------------------------------


@dataclass
class ChildResult:
    """What one child process reported, and the kernel's accounting of it."""

    records: list[dict[str, object]]
    returncode: int | None  # None: killed after the timeout
    wall_seconds: float
    peak_rss_mb: float
    user_seconds: float
    system_seconds: float
    stderr_tail: str
    timed_out: bool = False
    signal: int | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def failure(self) -> str:
        """A short description of how the child failed ("" if it did not)."""
        if self.timed_out:
            return f"timeout after {self.wall_seconds:.0f} s"
        if self.signal is not None:
            return f"crash (killed by signal {self.signal})"
        if self.returncode:
            last = self.stderr_tail.strip().splitlines()[-1] if self.stderr_tail.strip() else ""
            return f"crash (exit {self.returncode}: {last[:120]})"
        return ""


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float | None = None) -> ChildResult:
    """Runs `argv` and collects its `emit`ted records, wall time, peak RSS and CPU time.

    CPU time comes from `os.wait4` (exactly this child, unlike RUSAGE_CHILDREN). Peak RSS is the
    child's VmHWM: the largest of what its records report (`emit` adds it) and what the parent read
    from /proc/<pid>/status while the child ran (so a child that crashes still gets a figure). Not
    wait4's ru_maxrss, which includes this parent's own peak (see `peak_rss_mb`).
    """
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, env=full_env, text=True)
        timed_out = False
        deadline = None if timeout is None else started + timeout
        polled = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            polled = max(polled, _vm_hwm_mb(process.pid) or 0.0)
            if deadline is not None and time.perf_counter() > deadline:
                process.kill()
                timed_out = True
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it was reaped
        out.seek(0)
        err.seek(0)
        records = [json.loads(line[len(RESULT_PREFIX):]) for line in out if line.startswith(RESULT_PREFIX)]
        stderr_tail = err.read()[-4000:]
    code = process.returncode
    return ChildResult(
        records=records,
        returncode=None if timed_out else code,
        wall_seconds=wall,
        peak_rss_mb=max([polled] + [r.get("peak_rss_mb_self") or 0.0 for r in records]),
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
        stderr_tail=stderr_tail,
        timed_out=timed_out,
        signal=-code if code is not None and code < 0 and not timed_out else None,
    )


def warm_page_cache(path: Path) -> None:
    """Reads `path` once so the first timed run does not pay for the disk (this VM's cache is small)."""
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass


# --- records --------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Collects one bench run's measurements and appends them to `results/<bench>.jsonl`."""

    bench: str
    params: dict[str, object]
    results_dir: Path = RESULTS
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%dT%H%M%S"))
    records: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.machine = machine()

    def add(self, **measurement: object) -> dict[str, object]:
        record = {"bench": self.bench, "run": self.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  **measurement, "params": self.params, "machine": self.machine}
        self.records.append(record)
        return record

    def write(self) -> Path:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / f"{self.bench}.jsonl"
        with path.open("a", encoding="utf-8") as file:
            for record in self.records:
                file.write(json.dumps(record, sort_keys=False) + "\n")
        return path

    def header(self, title: str) -> str:
        """The Markdown heading and machine line every summary starts with."""
        m = self.machine
        libs = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        return (f"# {title}\n\nRun `{self.run_id}` on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
                f"load {m['load_1min']} at start; Python {m['python']}; {libs}; tokfree commit {m['git']}.\n\n"
                f"Parameters: `{json.dumps(self.params)}`\n")


# --- tables and plots -------------------------------------------------------------------------------


def fmt(value: object, digits: int = 3) -> str:
    """Numbers to 3 significant digits (no exponent below 10^6), None to an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if abs(value) >= 10 ** digits:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(rows: list[dict[str, object]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(c)).replace("|", "\\|") for c in columns) + " |")
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


COLORS = {"tokfree": "#1b9e77", "tiktoken": "#d95f02", "hf": "#7570b3", "spm": "#e7298a"}


def color(label: str) -> str:
    for key, value in COLORS.items():
        if label.startswith(key):
            return value
    return "#888888"


def grouped_bars(path: Path, groups: list[str], series: dict[str, list[float | None]], *, title: str, ylabel: str, log: bool = False) -> None:
    """One group of bars per entry of `groups`, one bar per series (missing values are skipped)."""
    plt = _pyplot()
    width = 0.8 / max(1, len(series))
    figure, axes = plt.subplots(figsize=(max(7, len(groups) * len(series) * 0.55), 4.5))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        shade = 0.55 if "numpy" in name or "flat" in name or "fast" in name else 1.0
        bars = axes.bar(xs, ys, width * 0.95, label=name, color=color(name), alpha=shade)
        axes.bar_label(bars, fmt="%.3g", fontsize=7, rotation=90, padding=2)
    axes.set_xticks(range(len(groups)), groups)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    if log:
        axes.set_yscale("log")
    axes.margins(y=0.15)
    axes.legend(fontsize=8, ncols=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def line_grid(path: Path, panels: dict[str, dict[str, tuple[list[float], list[float | None]]]], *, title: str, xlabel: str, ylabel: str,
              failures: dict[str, dict[str, tuple[float, str]]] | None = None) -> None:
    """A grid of log-log line plots: panel -> series -> (xs, ys); failures: panel -> series -> (x, label)."""
    plt = _pyplot()
    columns = 3
    rows = (len(panels) + columns - 1) // columns
    figure, axes_grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for axes, (panel, series) in zip(axes_grid.flat, panels.items()):
        for name, (xs, ys) in series.items():
            points = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if points:
                axes.plot(*zip(*points), marker="o", markersize=3, label=name, color=color(name))
        for name, (x, label) in (failures or {}).get(panel, {}).items():
            axes.axvline(x, color=color(name), linestyle=":", linewidth=1)
            axes.annotate(f"{name}: {label}", (x, 0.02), xycoords=("data", "axes fraction"), fontsize=7, rotation=90, color=color(name))
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_title(panel, fontsize=10)
        axes.set_xlabel(xlabel, fontsize=8)
        axes.set_ylabel(ylabel, fontsize=8)
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(fontsize=7)
    for axes in list(axes_grid.flat)[len(panels):]:
        axes.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def python() -> str:
    """The interpreter children run under (the one running the bench)."""
    return sys.executable
