"""``phnet-eval --heldout``: harmonisers judged as the camera runs them, on people from sources
no training picture came from.

Every method sees every case of :mod:`train.eval.cases` (identity, relight, relight over another
view of the room, recolour, bright and dim rooms, the ``blur`` background) with the captured
frame, relight clips for flicker, and every person over the bundled backgrounds and held-out
scenes for the colour of their face. Figures are fMSE on the 0-255 scale (mask binarised at
0.5) per case, then reported **per source**, as the mean over cases and as the **worst
source** (the source with the highest mean), beside the composite's: a method that helps on
average but harms one kind of picture shows as such. The targets of the harmoniser (identity
at most 1/20 of the composite's relight error on every source; relight at most half the
composite's overall and below it on every source; recolour below the composite on every source;
new backgrounds |da|, |db| at most 6; flicker no worse than the composite's) are checked at the
end.

Methods: ``composite`` (nothing done), ``colortransfer`` (Reinhard in Lab), ``light``
(:class:`phnet.light.LightTransfer`: the classical move from the captured room's light to the
scene's) and each ``--checkpoint`` (``phnet.Harmonizer.load`` with the camera's settings,
network on every frame as in ``phnet-cam process``) at strength 1 and, where the camera's
default strength differs, at that strength too.
"""
from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cases import OWN_ROOM_TESTS, TESTS, Case, Clip, make_cases, make_clip
from .heldout import HeldOutPerson
from .metrics import fmse
from .people import CORE_ALPHA, _skin_region, cover, lab_shift
from .temporal import flicker_score

log = logging.getLogger(__name__)

AB_LIMIT = 6.0
"""Largest mean |da| or |db| (OpenCV Lab, 0-255) a person may take from a new background."""


class Composite:
    """Does nothing: the composite as it is (the floor every method must beat)."""

    def __call__(self, composite: np.ndarray, mask: np.ndarray, captured=None) -> np.ndarray:
        return composite

    def reset(self) -> None:
        pass


class AtStrength:
    """A harmoniser blended with the composite at ``strength``, as the camera's stage does."""

    def __init__(self, harmoniser: Any, strength: float) -> None:
        self.harmoniser, self.strength = harmoniser, strength

    def __call__(self, composite, mask, captured=None):
        out = run(self.harmoniser, composite, mask, captured)
        s = np.float32(self.strength)
        return np.clip(np.rint(composite + s * (out.astype(np.float32) - composite)), 0, 255).astype(np.uint8)

    def reset(self) -> None:
        self.harmoniser.reset()


def _takes_captured(h: Any) -> bool:
    try:
        return "captured" in inspect.signature(h.__call__).parameters
    except (TypeError, ValueError):
        return False


def run(h: Any, composite: np.ndarray, mask: np.ndarray, captured: np.ndarray | None) -> np.ndarray:
    """``h(composite, mask, captured=...)`` where ``h`` takes a captured frame, else ``h(composite, mask)``."""
    if captured is not None and _takes_captured(h):
        return h(composite, mask, captured=captured)
    return h(composite, mask)


def build_methods(names: list[str], checkpoints: list[str], device: str = "cpu",
                  backend: str = "auto", camera_strength: float | None = None) -> dict[str, Any]:
    """``composite``, ``colortransfer``, ``light`` and one PHNet per checkpoint (labelled
    ``phnet:<stem>``), each PHNet also at ``camera_strength`` when it is below 1."""
    from phnet import Harmonizer
    from phnet.colortransfer import ColorTransfer
    from phnet.light import LightTransfer

    methods: dict[str, Any] = {}
    for name in names:
        if name == "composite":
            methods[name] = Composite()
        elif name == "colortransfer":
            methods[name] = ColorTransfer()
        elif name == "light":
            methods[name] = LightTransfer()
        elif name != "phnet":
            raise ValueError(f"unknown method {name!r} (composite, colortransfer, light, phnet)")
    if "phnet" in names:
        for ck in checkpoints:
            label = f"phnet:{Path(ck).stem}"
            methods[label] = Harmonizer.load(ck, device=device, backend=backend)
            if camera_strength is not None and camera_strength < 1.0:
                methods[f"{label}@{camera_strength:g}"] = AtStrength(methods[label], camera_strength)
    return methods


@dataclass
class HeldOutResult:
    """Per-case, per-clip and per-background rows, and what ran."""

    cases: list[dict] = field(default_factory=list)
    clips: list[dict] = field(default_factory=list)
    backgrounds: list[dict] = field(default_factory=list)
    info: dict[str, dict] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"cases": self.cases, "clips": self.clips, "backgrounds": self.backgrounds,
                "info": self.info, "sources": self.sources, "summary": summarise(self),
                "targets": [t.__dict__ for t in check_targets(self)]}


def evaluate_heldout(methods: dict[str, Any], people: list[HeldOutPerson], backgrounds: dict[str, np.ndarray],
                     draws: int = 2, clip_frames: int = 16,
                     keep: Callable[[Case, str, np.ndarray], None] | None = None,
                     progress: Callable[[str], None] | None = None) -> HeldOutResult:
    """Runs every method over every case, clip and background of ``people``.

    A method is reset before every still and before every clip (never inside a clip, so its
    temporal state carries). ``keep(case, method, output)`` sees every case's output.
    """
    if not people:
        raise ValueError("no held-out people to evaluate")
    from vcam.config import HarmoniseConfig
    from vcam.harmonise_stage import harmonises_over

    camera = HarmoniseConfig()
    res = HeldOutResult(sources=sorted({p.source for p in people}))
    for label, h in methods.items():
        info = getattr(h, "info", None)
        res.info[label] = dict(info()) if callable(info) else {"method": type(h).__name__}
    for person in people:
        if progress:
            progress(person.name)
        for case in make_cases(person, draws):
            kind = OWN_ROOM_TESTS.get(case.test)
            skip = kind is not None and not harmonises_over(kind, camera)
            for label, h in methods.items():
                h.reset()
                out = case.composite if skip else run(h, case.composite, case.mask, case.captured)
                if keep is not None:
                    keep(case, label, out)
                diff = np.abs(out.astype(np.int16) - case.truth).max()
                res.cases.append({"person": case.person, "source": case.source, "test": case.test,
                                  "method": label, "fmse": fmse(out, case.truth, case.mask),
                                  "max_diff": int(diff)})
        clip = make_clip(person, clip_frames)
        res.clips.extend(_clip_rows(methods, clip))
        res.backgrounds.extend(_background_rows(methods, person, backgrounds))
    return res


def _clip_rows(methods: dict[str, Any], clip: Clip) -> list[dict]:
    rows = []
    masks = [clip.mask] * len(clip.composites)
    for label, h in methods.items():
        h.reset()
        outs = [run(h, c, clip.mask, cap) for c, cap in zip(clip.composites, clip.captured)]
        errs = [fmse(o, t, clip.mask) for o, t in zip(outs, clip.truths)]
        rows.append({"person": clip.person, "source": clip.source, "method": label,
                     "fmse": float(np.nanmean(errs)),
                     "flicker": flicker_score(outs, clip.truths, masks)})
    return rows


def over(person: HeldOutPerson, background: np.ndarray) -> np.ndarray:
    """The person composited by their matte over ``background`` (cropped to cover the photo),
    uint8 RGB HxWx3."""
    b = cover(background, *person.alpha.shape).astype(np.float32)
    a = person.alpha[..., None]
    return np.clip(np.rint(b + a * (person.image - b)), 0, 255).astype(np.uint8)


def _background_rows(methods: dict[str, Any], person: HeldOutPerson,
                     backgrounds: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    body = person.alpha >= CORE_ALPHA
    skin = _skin_region(person)
    for bg_name, bg in backgrounds.items():
        comp = over(person, bg)
        for label, h in methods.items():
            h.reset()
            out = run(h, comp, person.alpha, person.image)
            rows.append({"person": person.name, "source": person.source, "background": bg_name,
                         "method": label, "body": lab_shift(person.image, out, body),
                         "skin": lab_shift(person.image, out, skin) if skin is not None else None})
    return rows


def _mean(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _by_source(rows: list[dict], key: str, sources: list[str]) -> dict[str, float]:
    """``{source: mean, "mean": mean over rows, "worst": highest source mean}``."""
    out = {s: _mean([r[key] for r in rows if r["source"] == s]) for s in sources}
    out["mean"] = _mean([r[key] for r in rows])
    present = [v for s, v in out.items() if s in sources and not math.isnan(v)]
    out["worst"] = max(present) if present else math.nan
    return out


def summarise(res: HeldOutResult) -> dict:
    """``{"tests": {test: {method: by_source}}, "flicker": ..., "clip_fmse": ...,
    "backgrounds": {background: {method: {"abs_da", "abs_db", "dL"}}}}``."""
    methods = list(res.info)
    out: dict[str, Any] = {"tests": {}, "flicker": {}, "clip_fmse": {}, "backgrounds": {}}
    for test in TESTS:
        rows = [r for r in res.cases if r["test"] == test]
        if rows:
            out["tests"][test] = {m: _by_source([r for r in rows if r["method"] == m], "fmse", res.sources)
                                  for m in methods}
    for m in methods:
        rows = [r for r in res.clips if r["method"] == m]
        out["flicker"][m] = _by_source(rows, "flicker", res.sources)
        out["clip_fmse"][m] = _by_source(rows, "fmse", res.sources)
    for bg in dict.fromkeys(r["background"] for r in res.backgrounds):
        out["backgrounds"][bg] = {}
        for m in methods:
            shifts = [r["body"] for r in res.backgrounds
                      if r["background"] == bg and r["method"] == m and r["body"] is not None]
            skins = [r["skin"] for r in res.backgrounds
                     if r["background"] == bg and r["method"] == m and r["skin"] is not None]
            a = np.asarray(shifts) if shifts else np.zeros((0, 3))
            s = np.asarray(skins) if skins else np.zeros((0, 3))
            out["backgrounds"][bg][m] = {
                "dL": float(a[:, 0].mean()) if len(a) else math.nan,
                "abs_da": float(np.abs(a[:, 1]).mean()) if len(a) else math.nan,
                "abs_db": float(np.abs(a[:, 2]).mean()) if len(a) else math.nan,
                "skin_dL": float(s[:, 0].mean()) if len(s) else math.nan,
                "skin_da": float(s[:, 1].mean()) if len(s) else math.nan,
                "skin_db": float(s[:, 2].mean()) if len(s) else math.nan,
            }
    return out


@dataclass
class Target:
    method: str
    target: str
    met: bool
    detail: str


def check_targets(res: HeldOutResult) -> list[Target]:
    """The harmoniser's no-harm targets, for every method but the composite."""
    s = summarise(res)
    tests, sources = s["tests"], res.sources
    comp = "composite"
    out = []
    if comp not in res.info:
        return out
    for m in res.info:
        if m == comp:
            continue
        if "identity" in tests and "relight" in tests:
            worst = max(tests["identity"][m][src] / tests["relight"][comp][src] for src in sources)
            out.append(Target(m, "identity <= 1/20 of the composite's relight error, every source",
                              worst <= 0.05, f"worst source {worst:.3f}"))
        blur = [r["max_diff"] for r in res.cases if r["test"] == "blur" and r["method"] == m]
        if blur:
            out.append(Target(m, "blur: the person unchanged, at most 1 level anywhere (as the camera runs)",
                              max(blur) <= 1, f"largest difference {max(blur)} levels"))
        if "relight" in tests:
            r, c = tests["relight"][m], tests["relight"][comp]
            ratio = r["mean"] / c["mean"]
            below = all(r[src] < c[src] for src in sources)
            out.append(Target(m, "relight <= 50 % of the composite overall, below it on every source",
                              ratio <= 0.5 and below, f"{100 * ratio:.0f} % overall; "
                              f"{'below' if below else 'NOT below'} on every source"))
        if "recolour" in tests:
            r, c = tests["recolour"][m], tests["recolour"][comp]
            below = [src for src in sources if r[src] < c[src]]
            out.append(Target(m, "recolour below the composite on every source",
                              len(below) == len(sources), f"below on {len(below)} of {len(sources)}"))
        if s["backgrounds"]:
            worst = max(max(v[m]["abs_da"], v[m]["abs_db"]) for v in s["backgrounds"].values())
            out.append(Target(m, f"new backgrounds: mean |da|, |db| <= {AB_LIMIT:g}",
                              worst <= AB_LIMIT, f"worst {worst:.1f}"))
        if s["flicker"]:
            f, c = s["flicker"][m]["mean"], s["flicker"][comp]["mean"]
            out.append(Target(m, "flicker on the relight clips no worse than the composite's",
                              f <= c, f"{f:.1f} vs {c:.1f}"))
    return out


def _f(x: float, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def format_markdown(res: HeldOutResult, title: str = "Held-out people (out of source)") -> str:
    s = summarise(res)
    sources = res.sources
    n_people = len({r["person"] for r in res.cases})
    lines = [f"# {title}", "",
             f"{n_people} photos from {len(sources)} sources no training picture came from; fMSE "
             "(0-255, mask at 0.5) per source, the mean over cases and the worst source. "
             "`vs comp.`: the mean as a share of the composite's.", ""]
    head = "| method | " + " | ".join(sources) + " | mean | worst | vs comp. |"
    rule = "|---|" + "---:|" * (len(sources) + 3)
    for test, per in s["tests"].items():
        lines += [f"## {test}", "", head, rule]
        base = per.get("composite", {}).get("mean")
        for m, v in per.items():
            ratio = f"{100 * v['mean'] / base:.0f} %" if base else "–"
            lines.append(f"| {m} | " + " | ".join(_f(v[src]) for src in sources)
                         + f" | {_f(v['mean'])} | {_f(v['worst'])} | {ratio} |")
        lines.append("")
    for key, name in (("clip_fmse", "relight clips: fMSE"), ("flicker", "relight clips: flicker")):
        lines += [f"## {name}", "", head, rule]
        base = s[key].get("composite", {}).get("mean")
        for m, v in s[key].items():
            ratio = f"{100 * v['mean'] / base:.0f} %" if base else "–"
            lines.append(f"| {m} | " + " | ".join(_f(v[src]) for src in sources)
                         + f" | {_f(v['mean'])} | {_f(v['worst'])} | {ratio} |")
        lines.append("")
    if s["backgrounds"]:
        lines += ["## New backgrounds: the person's Lab shift", "",
                  "Mean over people of the person's (matte >= 0.95) and the face's shift, output "
                  "minus photo, OpenCV Lab (0-255); no truth exists: light may change, skin may not.",
                  "", "| background | method | dL | mean abs(da) | mean abs(db) | face dL | face da | face db |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for bg, per in s["backgrounds"].items():
            for m, v in per.items():
                lines.append(f"| {bg} | {m} | {_f(v['dL'])} | {_f(v['abs_da'])} | {_f(v['abs_db'])} | "
                             f"{_f(v['skin_dL'])} | {_f(v['skin_da'])} | {_f(v['skin_db'])} |")
        lines.append("")
    targets = check_targets(res)
    if targets:
        lines += ["## Targets", "", "| method | target | met | measured |", "|---|---|---|---|"]
        lines += [f"| {t.method} | {t.target} | {'yes' if t.met else '**no**'} | {t.detail} |"
                  for t in targets]
        lines.append("")
    return "\n".join(lines)


def people_grid(methods: dict[str, Any], people: list[HeldOutPerson],
                backgrounds: dict[str, np.ndarray], path: str | Path, tile: int = 150) -> Path:
    """A picture of what a user would see: one row per held-out photo, for each background the
    composite and every method's output side by side (each method given the photo as the
    captured frame), the methods named over the first row."""
    import cv2

    from .grid import _label

    rows = []
    for r, person in enumerate(people):
        cells = []
        for bg_name, bg in backgrounds.items():
            comp = over(person, bg)
            for label, h in methods.items():
                h.reset()
                out = run(h, comp, person.alpha, person.image)
                img = cv2.resize(out, (round(out.shape[1] * tile / out.shape[0]), tile),
                                 interpolation=cv2.INTER_AREA)
                cells.append(_label(img, f"{bg_name}: {label}") if r == 0 else img)
            cells.append(np.full((cells[-1].shape[0], 6, 3), 255, np.uint8))
        rows.append(np.hstack(cells[:-1]))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255)
            for row in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), params):
        raise ValueError(f"cannot write the grid to {path} (extension .png or .jpg expected)")
    return path


def heldout_command(args, names: list[str]) -> int:
    """``phnet-eval --heldout``: see the module docstring. Returns the exit status."""
    import json

    from .heldout import HELD_OUT_SOURCES, load_heldout
    from .people import bundled_backgrounds, scene_backgrounds

    sources = HELD_OUT_SOURCES if not args.sources else tuple(
        s.strip() for s in args.sources.split(",") if s.strip())
    try:
        from vcam.config import HarmoniseConfig

        camera_strength = HarmoniseConfig().strength
        methods = build_methods(names, args.checkpoint, args.device, args.backend, camera_strength)
        people = load_heldout(args.data_root, sources)
        backgrounds = {**bundled_backgrounds(), **scene_backgrounds(args.data_root, "test", args.scenes)}
        res = evaluate_heldout(methods, people, backgrounds, args.draws, args.clip_frames,
                               progress=None if args.no_progress else lambda n: log.info("held-out: %s", n))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        log.error("phnet-eval: %s", exc)
        return 2
    markdown = format_markdown(res)
    log.info("\n%s", markdown)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    if args.json:
        data = res.to_dict()
        if not args.per_image:
            data = {k: v for k, v in data.items() if k not in ("cases", "clips", "backgrounds")}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=2, default=float), encoding="utf-8")
    if args.grid:
        shown = {k: v for k, v in methods.items() if "@" not in k}
        log.info("wrote %s", people_grid(shown, people[:args.grid_count], bundled_backgrounds(),
                                         args.grid))
    return 0
