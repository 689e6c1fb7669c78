"""Every key of the config tree refuses every kind of bad value with one line, before any work.

The keys, their kinds and their valid values are read from the dataclass declarations
(:mod:`atlas.config.fields`), so a key added to the tree is covered here without editing this
file. Each case runs the real entry point in-process, ``atlas render RUN --set KEY=VALUE`` (or
``--config FILE``) on a run directory that does not exist: the config tree is built and checked
first, so a bad value must end in one ``atlas: error: KEY ...`` line with status 2, and a good
one gets as far as the run directory's line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas.cli import main as cli
from atlas.config.accent import AugmentConfig
from atlas.config.fields import hints, kind, tree_fields
from atlas.config.load import tomllib  # tomli before Python 3.11
from atlas.config.tree import BuildConfig, build_config

MISSING_RUN = str(Path(tempfile.gettempdir()) / "atlas-no-such-run" / "run")
NO_RUN = f"atlas: error: run directory {MISSING_RUN!r} does not exist"


@dataclasses.dataclass(frozen=True)
class Key:
    dotted: str
    kind: str  # 'bool', 'int', 'float', 'str', 'list[str]', 'list[float]'
    meta: Any  # the field's declaration: lo/hi/open_lo, choices, empty
    default: Any


def _keys(cls: type, prefix: str = "") -> Iterator[Key]:
    for f in tree_fields(cls):
        k = kind(hints(cls)[f.name])
        if k == "section":
            yield from _keys(hints(cls)[f.name], f"{prefix}{f.name}.")
        else:
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            yield Key(prefix + f.name, k, f.metadata, default)


KEYS = list(_keys(BuildConfig))


def _leaves(d: dict[str, Any], prefix: str = "") -> list[str]:
    return [x for k, v in d.items()
            for x in (_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k])]


# ---- TOML text of a value: what a user writes after `--set KEY=` or `KEY = ` in a file ----

def toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, str):
        esc = "".join("\\" + c if c in '"\\' else f"\\u{ord(c):04x}"
                      if ord(c) < 0x20 or ord(c) == 0x7F else c for c in v)
        return f'"{esc}"'
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


# ---- values of each TOML type, and the bad values of each kind of key ----

ident = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
scalars: dict[str, st.SearchStrategy[Any]] = {
    "bool": st.booleans(),
    "int": st.integers(-(2**70), 2**70),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "str": texts,
    "date": st.one_of(st.dates(), st.datetimes(), st.times()),
}
tables = st.dictionaries(ident, st.one_of(*scalars.values()), max_size=2)


def lists_of(*types: str) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(*(scalars[t] for t in types)), max_size=3)


def _wrong_types(key: Key) -> dict[str, st.SearchStrategy[Any]]:
    """Values of a TOML type the key cannot hold (an int is a valid float; a single string a
    valid one-name list)."""
    ok = {"bool": {"bool"}, "int": {"int"}, "float": {"int", "float"}, "str": {"str"},
          "list[str]": {"str", "list"}, "list[float]": {"list"}}[key.kind]
    out = {f"type:{t}": s for t, s in scalars.items() if t not in ok}
    if "list" not in ok:
        out["type:list"] = st.lists(st.one_of(*scalars.values()), max_size=3)
    out["type:table"] = tables
    item = {"list[str]": ("int", "float", "bool", "date"), "list[float]": ("str", "bool", "date")}
    if key.kind in item:  # a list holding something else beside a good item
        good = "_blocks.10" if key.kind == "list[str]" else 1.0
        out["type:list-item"] = st.lists(st.one_of(lists_of(*item[key.kind]).map(tuple),
                                                   *(scalars[t] for t in item[key.kind])),
                                         min_size=1, max_size=3).map(
            lambda bad: [good, *(list(b) if isinstance(b, tuple) else b for b in bad)])
    return out


def _bad_values(key: Key) -> dict[str, st.SearchStrategy[Any]]:
    """Every category of bad value for ``key``, from its kind and declaration."""
    m, out = key.meta, _wrong_types(key)
    if "lo" in m:
        lo, hi = m["lo"], m["hi"]
        if key.kind == "int":
            out["range:below"] = st.integers(max_value=lo - 1, min_value=lo - 2**40)
            if hi is not None:
                out["range:above"] = st.integers(min_value=hi + 1, max_value=hi + 2**40)
        else:
            below = st.floats(max_value=lo, exclude_max=not m["open_lo"], allow_nan=False)
            out["range:below"] = below
            out["range:not-finite"] = st.sampled_from([math.nan, math.inf, -math.inf])
            if hi is not None:
                out["range:above"] = st.floats(min_value=hi, exclude_min=True)
    if "choices" in m:
        out["choice"] = texts.filter(lambda s: s not in m["choices"] and "\0" not in s)
    if m.get("empty") is False:
        if key.kind == "str":
            out["empty"] = st.text(" \t", max_size=3)
        else:
            out["empty"] = st.just([])
    if key.kind == "str":
        out["nul"] = st.tuples(texts, texts).map(lambda ab: f"{ab[0]}\0{ab[1]}")
    if key.kind == "list[str]":
        out["empty-name"] = st.text(" \t", max_size=2).map(lambda s: ["_blocks.4", s])
        out["nul"] = texts.map(lambda s: [f"_blocks\0{s}"])
        out["duplicate"] = ident.map(lambda s: [s, "_blocks.4", s])
    if key.kind == "list[float]":
        out["range:not-finite"] = st.sampled_from([math.nan, math.inf, -math.inf]).map(
            lambda x: [1.0, x, 3.0])
    return out


CASES = [(key, cat) for key in KEYS for cat in _bad_values(key)]


# ---- the entry point, in-process ----

@pytest.fixture(scope="module", autouse=True)
def _one_parser() -> Iterator[None]:
    """main() builds its argparse tree on every call (fine for a process, slow for a thousand
    cases); here it is built once and main() otherwise runs as it does for a user."""
    built = cli.parser()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "parser", lambda: built)
        yield


def run(*argv: str) -> tuple[int, list[str], str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(["render", MISSING_RUN, *argv])
    return code, err.getvalue().splitlines(), out.getvalue()


def one_error_line(code: int, lines: list[str], out: str) -> str:
    assert code == 2 and out == "", (code, lines, out)
    assert len(lines) == 1 and lines[0].startswith("atlas: error: "), lines
    assert "Traceback" not in lines[0]
    return lines[0]


def assert_refused(key: Key, text: str, *argv: str) -> None:
    line = one_error_line(*run(*argv))
    assert line.startswith(f"atlas: error: {key.dotted} "), (text, line)


FAST = settings(max_examples=6, deadline=None, database=None,
                suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def test_every_key_of_the_tree_is_covered():
    """The declarations this file reads name every key a manifest records, each at least
    with a wrong type, and each bounded number, choice and required value by its bounds."""
    recorded = _leaves(build_config().to_dict())
    assert sorted(k.dotted for k in KEYS) == sorted(recorded)
    assert len({k.dotted for k, _ in CASES}) == len(KEYS) == len(recorded)
    for key in KEYS:
        cats = {c for k, c in CASES if k == key}
        assert any(c.startswith("type:") for c in cats), key
        assert ("lo" in key.meta) == ("range:below" in cats), key
        assert (key.meta.get("hi") is not None) == ("range:above" in cats), key
        assert ("choices" in key.meta) == ("choice" in cats), key
        assert (key.meta.get("empty") is False) == ("empty" in cats), key


@pytest.mark.parametrize("key", KEYS, ids=[k.dotted for k in KEYS])
@FAST
@given(data=st.data())
def test_every_bad_value_is_one_line_naming_its_key(key: Key, data) -> None:
    """One value of each category of bad value per example (CASES: every key x category)."""
    for category, values in _bad_values(key).items():
        text = toml(data.draw(values, label=category))
        assert_refused(key, text, "--set", f"{key.dotted}={text}")


@settings(max_examples=60, deadline=None, database=None)
@given(key=st.sampled_from(KEYS), data=st.data())
def test_a_bad_value_in_a_config_file_is_one_line_naming_its_key(key: Key, data) -> None:
    category = data.draw(st.sampled_from(sorted(_bad_values(key))), label="category")
    value = data.draw(_bad_values(key)[category], label="value")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_text(f"{key.dotted} = {toml(value)}\n", encoding="utf-8")
        assert_refused(key, toml(value), "--config", str(path))


def _valid(key: Key) -> st.SearchStrategy[Any]:
    """Values the declarations allow. Cross-field rules bound three keys by another key's
    default (validate.seeds <= naturals, sweep_units <= units, max_side >= min_side)."""
    defaults = {k.dotted: k.default for k in KEYS}
    m = key.meta
    if key.kind == "bool":
        return st.booleans()
    if "choices" in m:
        return st.sampled_from(m["choices"])
    if "lo" in m:
        lo, hi = m["lo"], m["hi"]
        partner = {"validate.seeds": "validate.naturals",
                   "validate.sweep_units": "validate.units"}.get(key.dotted)
        if partner:
            hi = defaults[partner]
        if key.dotted == "accent.augment.max_side":
            lo = defaults["accent.augment.min_side"]
        if key.kind == "int":
            return st.integers(lo, hi if hi is not None else lo + 2**40)
        return st.floats(lo, hi if hi is not None else 1e300, exclude_min=m["open_lo"])
    return st.just(key.default)


@pytest.mark.parametrize("key", KEYS, ids=[k.dotted for k in KEYS])
@settings(max_examples=6, deadline=None, database=None)
@given(data=st.data())
def test_valid_values_are_accepted(key: Key, data) -> None:
    """Its default, each bound, each choice and values in between all pass the config and
    reach the next check (the missing run directory)."""
    value = data.draw(st.one_of(st.just(key.default), _valid(key)), label="value")
    line = one_error_line(*run("--set", f"{key.dotted}={toml(value)}"))
    assert line == NO_RUN, (key.dotted, value, line)
    if "lo" in key.meta:  # the bounds themselves are valid (an open bound is not)
        for bound in ([] if key.meta["open_lo"] else [key.meta["lo"]]) + \
                [b for b in [key.meta["hi"]] if b is not None]:
            if key.dotted not in ("validate.seeds", "validate.sweep_units",
                                  "accent.augment.max_side"):
                assert one_error_line(*run("--set", f"{key.dotted}={toml(bound)}")) == NO_RUN


def test_defaults_written_as_a_file_are_accepted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("".join(f"{k.dotted} = {toml(k.default)}\n" for k in KEYS), encoding="utf-8")
    assert tomllib.loads(path.read_text())["accent"]["augment"]["crops"] == AugmentConfig().crops
    assert one_error_line(*run("--config", str(path))) == NO_RUN


# ---- files that are no TOML config ----

@settings(max_examples=40, deadline=None, database=None)
@given(head=st.binary(max_size=20), tail=st.binary(max_size=20),
       bad=st.sampled_from([b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xe2\x82"]))
def test_a_config_that_is_not_utf8_is_one_line(head: bytes, tail: bytes, bad: bytes) -> None:
    data = b'name = "x"\n' + head + bad + tail
    with contextlib.suppress(UnicodeDecodeError):
        data.decode("utf-8")
        return  # the random bytes completed a character: not a case of this test
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_bytes(data)
        line = one_error_line(*run("--config", str(path)))
        assert line.startswith(f"atlas: error: config {path}: not UTF-8 text"), line


def _is_toml(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


@settings(max_examples=60, deadline=None, database=None)
@given(text=st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40),
    st.sampled_from(["name = ", "[accent\nlam = 1", "accent.lam = 1\naccent.lam = 2",
                     "[accent]\n[accent]", "lam = 'x", "= 3", "x = [1, 2", "a = {b = 1,}",
                     "[[accent]]\nlam = 1\n[accent]", "x = 1979-13-45", "a.b = 1\na = 2"]),
).filter(lambda t: not _is_toml(t.encode().decode("utf-8-sig"))))
def test_malformed_toml_is_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_text(text, encoding="utf-8", newline="")
        line = one_error_line(*run("--config", str(path)))
        assert line.startswith(f"atlas: error: config {path}: invalid TOML: "), line


def test_a_byte_order_mark_is_not_content(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b'\xef\xbb\xbf[accent]\nlam = 2\n')
    assert one_error_line(*run("--config", str(path))) == NO_RUN
    assert build_config(cli.parser().parse_args(["build", str(path)])).accent.lam == 2.0


@pytest.mark.parametrize("item, message", [
    ("=1", "--set expects SECTION.FIELD=VALUE, got '=1'"),
    ("accent.lam", "--set expects SECTION.FIELD=VALUE, got 'accent.lam'"),
    ("accent..lam=1", "--set expects SECTION.FIELD=VALUE"),
    (".lam=1", "--set expects SECTION.FIELD=VALUE"),
    ("accent.=1", "--set expects SECTION.FIELD=VALUE"),
    ("acc ent.lam=1", "--set expects SECTION.FIELD=VALUE"),
    ("accent.lamda=1", "unknown config key 'accent.lamda'; closest: accent.lam"),
    ("accent=1", "config section [accent] must be a table, got 1"),
    ("accent.augment=[2]", "config section [accent.augment] must be a table, got [2]"),
    ("accent.lam.x=1", "accent.lam must be a number, got {'x': 1}"),
    ("name.first=1", "name must be a string, got {'first': 1}"),
])
def test_a_bad_set_is_one_line(item: str, message: str) -> None:
    assert one_error_line(*run("--set", item)).startswith(f"atlas: error: {message}")


@pytest.mark.parametrize("file, item, message", [
    ("accent = 3", "accent={lam = 1}", "config key 'accent' is a value, not a section"),
    ("accent.augment = 3", "accent.augment.crops=2",
     "config key 'accent.augment' is a value, not a section"),
    ("[accent]\nlam = {x = 1}", "accent.lam.y=2", "accent.lam must be a number, got {'x': 1, "
                                                  "'y': 2}"),
])
def test_a_set_that_meets_a_file_value_is_one_line(tmp_path, file, item, message) -> None:
    path = tmp_path / "c.toml"
    path.write_text(file + "\n", encoding="utf-8")
    assert one_error_line(*run("--config", str(path), "--set", item)) == f"atlas: error: {message}"
