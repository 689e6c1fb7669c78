"""Which class accentuations a build makes, in what order, when not all of them fit.

Two kinds of work, in one queue: each explained *failure* (a confidently wrong prediction whose
label maps to a class) is its photo accentuated toward the predicted and toward the true class,
as a pair whose masks share one scale; each *class* is accentuated toward its own logit on its
most confident photo, once. ``classes.failures`` failures go first (most confident first),
then ``classes.accents`` classes: the failures' classes that have a page first, then the most
predicted. The site says which classes were left out and why.
"""

from __future__ import annotations

import pandas as pd

from atlas.config.decisions import ClassesConfig

COLUMNS = ["group", "kind", "class_index", "image_id", "rank"]


def failures(preds: pd.DataFrame, n: int | None = None) -> pd.DataFrame:
    """The wrong predictions (label mapped, top-1 another class), most confident first."""
    wrong = preds[preds["correct"] == 0].sort_values(["prob", "image_id"],
                                                     ascending=[False, True])
    return wrong if n is None else wrong.head(n)


def class_order(preds: pd.DataFrame, first: list[int]) -> list[int]:
    """Every predicted class (it has a page), ``first`` ones ahead (in their order, those that
    are predicted), then by images predicted, best confidence, index."""
    g = preds.groupby("class_index")["prob"].agg(["size", "max"]).reset_index()
    g = g.sort_values(["size", "max", "class_index"], ascending=[False, False, True])
    rest = [int(c) for c in g["class_index"]]
    head = [c for c in dict.fromkeys(first) if c in set(rest)]
    return head + [c for c in rest if c not in set(head)]


def best_photo(preds: pd.DataFrame, cls: int) -> str:
    """The image predicted as ``cls`` with the highest confidence."""
    mine = preds[preds["class_index"] == cls].sort_values(["prob", "image_id"],
                                                          ascending=[False, True])
    return str(mine["image_id"].iloc[0])


def plan(preds: pd.DataFrame, cfg: ClassesConfig) -> pd.DataFrame:
    """The queue: one row per accentuation, rows of a group together, in order."""
    rows: list[tuple] = []
    fails = failures(preds, cfg.failures)
    for f in fails.itertuples():
        g = len({r[0] for r in rows})
        rows += [(g, "predicted", int(f.class_index), f.image_id),
                 (g, "true", int(f.true_index), f.image_id)]
    first = [c for f in fails.itertuples() for c in (int(f.class_index), int(f.true_index))]
    for cls in class_order(preds, first)[:cfg.accents]:
        rows.append((len({r[0] for r in rows}), "class", cls, best_photo(preds, cls)))
    frame = pd.DataFrame(rows, columns=COLUMNS[:-1])
    frame["rank"] = range(len(frame))
    return frame[COLUMNS]


def batches(queue: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """Whole groups, about ``size`` accentuations per batch (a pair is never split)."""
    out: list[pd.DataFrame] = []
    cur: list[pd.DataFrame] = []
    n = 0
    for _, g in queue.groupby("group", sort=True):
        if cur and n + len(g) > size:
            out.append(pd.concat(cur))
            cur, n = [], 0
        cur.append(g)
        n += len(g)
    if cur:
        out.append(pd.concat(cur))
    return out
