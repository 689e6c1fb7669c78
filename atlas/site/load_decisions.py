"""Read the decision tables (connections, predictions, label_map, class_accents) and the causal
table into :class:`atlas.site.decisions.Decisions`.

Runs made without those stages lack the tables; everything here then stays empty and the site
shows no class pages. Cells are untrusted: bad numbers become None, bad rows are skipped.
"""

from __future__ import annotations

from typing import Any

from atlas.pipeline.rundir import RunDir
from atlas.site.content import Pic, Unit
from atlas.site.decisions import (
    ClassAccent,
    ClassPage,
    Decisions,
    Driver,
    Failure,
    LabelRow,
    Link,
    Predicted,
)
from atlas.site.media import find_natural
from atlas.site.read import Row, cells, records, text
from atlas.site.safe import finite

DRIVERS = 5  # units listed per layer on a class page (the faithfulness check ablates these)


def _int(v: Any, default: int = -1) -> int:
    f = finite(v)
    return int(f) if f is not None else default


def _pic(run: RunDir, pics: dict[str, Pic], image_id: str) -> Pic:
    if image_id not in pics:
        pics[image_id] = Pic(image_id=image_id, media=find_natural(run.root, image_id, {}, None))
    return pics[image_id]


def _links(run: RunDir, units: dict[tuple[str, int], Unit], d: Decisions) -> None:
    for r in records(run, "connections"):
        late, early = (text(r.get("layer")), _int(r.get("unit"))), (
            text(r.get("input_layer")), _int(r.get("input_unit")))
        if late not in units or early not in units:
            continue
        common = dict(drive=finite(r.get("drive")), share=finite(r.get("share")),
                      shortcut=bool(_int(r.get("shortcut"), 0)), images=_int(r.get("images"), 0))
        d.inputs.setdefault(late, []).append(Link(*early, units[early].lslug, **common,
                                                  face=units[early].face))
        d.feeds.setdefault(early, []).append(Link(*late, units[late].lslug, **common,
                                                  face=units[late].face))
        d.pairs[late[0]] = early[0]
    for links in (*d.inputs.values(), *d.feeds.values()):
        links.sort(key=lambda k: -(k.drive if k.drive is not None else float("-inf")))


def _accent(run: RunDir, pics: dict[str, Pic], r: Row) -> ClassAccent:
    f = finite
    return ClassAccent(
        kind=text(r.get("kind")), class_index=_int(r.get("class_index")),
        class_name=text(r.get("class_name")), pic=_pic(run, pics, text(r.get("image_id"))),
        logit_before=f(r.get("logit_before")), logit_after=f(r.get("logit_after")),
        prob_before=f(r.get("prob_before")), prob_after=f(r.get("prob_after")),
        top_after=text(r.get("top_after")), top_after_prob=f(r.get("top_after_prob")),
        latent_distance=f(r.get("latent_distance")), pixel_rmse=f(r.get("pixel_rmse")),
        steps=_int(r.get("steps"), 0) or None, lam=f(r.get("lam")),
        reg_layer=text(r.get("reg_layer")), seed_media=text(r.get("seed_media")) or None,
        accent_media=text(r.get("accent_media")) or None,
        mask_media=text(r.get("mask_media")) or None,
        overlay_media=text(r.get("overlay_media")) or None,
        change_media=text(r.get("change_media")) or None, change_gain=f(r.get("change_gain")))


def _classes(run: RunDir, pics: dict[str, Pic], d: Decisions, names: dict[int, str]) -> None:
    pages: dict[int, ClassPage] = {}
    wrong = []
    for r in records(run, "predictions"):
        idx, image_id = _int(r.get("class_index")), text(r.get("image_id"))
        if idx < 0 or not image_id:
            continue
        pic = _pic(run, pics, image_id)
        true = _int(r.get("true_index"))
        true_name = names.get(true, "") if true >= 0 else ""
        page = pages.setdefault(idx, ClassPage(idx, text(r.get("class_name")) or f"class {idx}"))
        correct = _int(r.get("correct"))
        page.images.append(Predicted(pic, finite(r.get("prob")), true_name, correct))
        d.images += 1
        d.labelled += bool(pic.label or text(r.get("label")))
        d.mapped += true >= 0
        if correct == 0:
            wrong.append(Failure(0, pic, text(r.get("label")), idx, page.name,
                                 finite(r.get("prob")), true, true_name or f"class {true}",
                                 finite(r.get("true_prob"))))
    for p in pages.values():
        p.images.sort(key=lambda x: (-(x.prob or 0.0), x.pic.image_id))
    d.classes = sorted(pages.values(), key=lambda p: (-len(p.images), p.name, p.index))
    wrong.sort(key=lambda f: (-(f.prob or 0.0), f.pic.image_id))
    for i, f in enumerate(wrong):
        f.rank = i
        for c in (f.pred_index, f.true_index):
            if c in pages and i not in pages[c].failures:
                pages[c].failures.append(i)
    d.failures = wrong


def _class_accents(run: RunDir, pics: dict[str, Pic], d: Decisions) -> None:
    pages = d.by_index
    by_photo = {f.pic.image_id: f for f in d.failures}
    for r in records(run, "class_accents"):
        a = _accent(run, pics, r)
        if a.kind == "class" and a.class_index in pages:
            pages[a.class_index].accent = a
        elif a.kind in ("predicted", "true") and a.pic.image_id in by_photo:
            setattr(by_photo[a.pic.image_id], a.kind, a)


def _drivers(run: RunDir, units: dict[tuple[str, int], Unit], d: Decisions) -> None:
    pages = d.by_index
    for r in records(run, "causal"):
        key, cls = (text(r.get("layer")), _int(r.get("unit"))), _int(r.get("class_index"))
        if cls not in pages or key not in units:
            continue
        u = units[key]
        pages[cls].drivers.setdefault(key[0], []).append(Driver(
            *key, u.lslug, finite(r.get("drop")), _int(r.get("images"), 0), u.face))
        d.drives.setdefault(key, []).append(pages[cls])
    for p in d.classes:
        for layer, rows in p.drivers.items():
            rows.sort(key=lambda x: (-(x.drop or 0.0), x.unit))
            p.drivers[layer] = rows[:DRIVERS]


def _notes(manifest: dict[str, Any], d: Decisions) -> None:
    cfg = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    classes = cfg.get("classes") if isinstance(cfg.get("classes"), dict) else {}
    d.planned_classes = _int(classes.get("accents"), 0)
    d.planned_failures = _int(classes.get("failures"), 0)
    stages = manifest.get("stages") if isinstance(manifest.get("stages"), dict) else {}
    st = stages.get("class-accentuate") if isinstance(stages.get("class-accentuate"), dict) else {}
    pred = stages.get("predict") if isinstance(stages.get("predict"), dict) else {}
    d.reason = text(pred.get("reason"))
    running = st.get("status") == "running"
    for p in d.classes:
        if p.accent is None:
            p.accent_note = (
                "Class accentuation pending — the build was still running when this page was "
                "written." if running else
                f"Not accentuated: this build accentuates {d.planned_classes} classes "
                "(classes.accents), the failures' classes first, then the most predicted."
                if st.get("status") == "done" else "No class accentuation in this run.")


def load_decisions(run: RunDir, units: list[Unit], pics: dict[str, Pic],
                   manifest: dict[str, Any]) -> Decisions:
    """The decisions of the run at ``run`` for the site's ``units`` (``pics``: its images,
    extended with any image only the predictions name)."""
    d = Decisions()
    index = {(u.layer, u.unit): u for u in units}
    _links(run, index, d)
    names = {_int(r.get("class_index")): text(r.get("class_name"))
             for r in records(run, "label_map") if _int(r.get("class_index")) >= 0}
    d.labels = [LabelRow(text(r.get("label")), _int(r.get("images"), 0),
                         _int(r.get("class_index")), text(r.get("class_name")),
                         text(r.get("how")), [str(x) for x in cells(r, "candidates")])
                for r in records(run, "label_map")]
    _classes(run, pics, d, names)
    _class_accents(run, pics, d)
    _drivers(run, index, d)
    _notes(manifest, d)
    return d
