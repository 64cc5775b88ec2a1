"""The status line's text: rates, latency, stage times, and what harmonises, honestly."""

from __future__ import annotations

#: Short names of the stages, in pipeline order, for a line that fits under the preview.
STAGE_LABELS = (
    ("segmentation", "seg"),
    ("mask", "mask"),
    ("background", "bg"),
    ("composite", "comp"),
    ("harmonise", "harm"),
)

NO_CHECKPOINT_TEXT = "colour transfer (no PHNet checkpoint bundled)"


def format_rates(snapshot: dict | None) -> str:
    """``30.0 fps · latency 41 ms · cpu 0.45 cores · seg 6.2 · mask 1.9 · ... ms`` from
    ``PipelineStats`` (cores: the whole process's CPU time over wall time, last ~5 s)."""
    if snapshot is None:
        return "starting…"
    fps = snapshot["fps"].get("processed")
    latency = snapshot["latency"]["median_ms"]
    cores = snapshot.get("cpu_cores")
    parts = [
        "- fps" if fps is None else f"{fps:.1f} fps",
        "latency - ms" if latency is None else f"latency {latency:.0f} ms",
        "cpu - cores" if cores is None else f"cpu {cores:.2f} cores",
    ]
    stages = snapshot["stages"]
    times = [f"{label} {stages[name]['ema_ms']:.1f}" for name, label in STAGE_LABELS
             if name in stages and stages[name]["ema_ms"] is not None]
    if times:
        parts.append(" · ".join(times) + " ms")
    dropped = snapshot["counters"].get("dropped", 0)
    errors = snapshot["counters"].get("errors", 0)
    if dropped:
        parts.append(f"{dropped} dropped")
    if errors:
        parts.append(f"{errors} errors")
    return " · ".join(parts)


def describe_harmoniser(info: dict, effect: bool = True) -> str:
    """What harmonises, where, and why it is not PHNet when PHNet was asked for."""
    if not effect:
        return "Effect off: the camera picture goes out as it is (Ctrl+E turns it on)"
    if not info:
        return "Harmoniser: loading…"
    method = info.get("method")
    if method == "off":
        return "Harmoniser: off (the plain composite)"
    where = _where(info)
    if method == "phnet":
        text = f"Harmoniser: PHNet {info.get('config', '')}".rstrip()
        text += f" on {where}"
        if info.get("resolution"):
            text += f", {info['resolution']} px"
        if info.get("fallback"):  # the GPU was asked for and did not start
            text += f", NOT on the GPU: {info['fallback']}"
    elif method == "light":
        text = "Harmoniser: light transfer (no network)"
    elif method == "colortransfer":
        fallback = str(info.get("fallback", ""))
        if info.get("mode") == "phnet" and fallback.startswith("no bundled PHNet model"):
            text = f"Harmoniser: {NO_CHECKPOINT_TEXT} on {where}"
        elif info.get("mode") == "phnet":
            text = f"Harmoniser: colour transfer on {where}, NOT PHNet: {fallback or 'unavailable'}"
        else:
            text = f"Harmoniser: colour transfer on {where}"
    else:
        text = f"Harmoniser: {method} on {where}"
    strength = info.get("strength", 1.0)
    if strength != 1.0:
        text += f", strength {strength:.2f}"
    if info.get("failed_frames"):
        text += f", {info['failed_frames']} frames failed"
    if "left_as_captured" in info:
        text += f"; not applied over {info['left_as_captured']}: you are left as captured"
    return text


def _where(info: dict) -> str:
    backend = info.get("backend", "?")
    device = info.get("device", "?")
    dtype = info.get("dtype")
    text = f"{backend} / {device}"
    if dtype:
        text += f" ({dtype})"
    return text
