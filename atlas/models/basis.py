"""A basis over a layer: per position, the layer's C channel activations as F feature values.

A sparse dictionary (a TopK sparse autoencoder, learned by atlas or trained elsewhere) or a set
of named concept directions reads a layer in features instead of channels. A basis is applied
where the layer is read (the hook, :mod:`atlas.models.hooks`), under a *unit-layer name*
``LAYER/NAME`` (``_blocks.10/sae``), so mining, where-maps, statistics, objectives and unit specs
see F units and need no second code path. ``LAYER/NAME/pre`` reads the pre-activation, which an
optimization raises: a TopK code that is off has no gradient, its pre-activation does.

One formula serves every kind, in the input's normalized space ``xn = (x - mean) / scale``::

    pre  = (xn - decoder_bias) @ encoder.T + encoder_bias      (F values per position)
    code = activation(pre)              (topk, jumprelu: pre where pre > threshold, relu, none)
    code = refined(code)                (``refine`` > 0: least squares on the code's support)
    x^   = (code @ decoder + decoder_bias) * scale + mean      (the reconstruction)

Ablating feature f (setting its code to ``m``) moves the input along its decoder row:
``x - code_f * d_f + m * d_f`` with ``d_f = scale * decoder[f]``, evaluated in that order so a
one-hot row (an identity basis, a channel's direction) sets exactly that channel to ``m``, as
ablating the channel does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from atlas.errors import AtlasError
from atlas.models.refine import dense, on_support, refined

ACTIVATIONS = ("topk", "jumprelu", "relu", "none")
KINDS = ("sae", "file", "directions")
PRE = "/pre"  # suffix of a unit-layer name that reads the pre-activation
FORMAT = 1  # of atlas's own basis files (BASIS.json + BASIS.safetensors)


@dataclass(frozen=True)
class Basis:
    """F features over the C channels of ``layer``; tensors on the CPU in float32."""

    name: str  # the NAME in unit-layer names LAYER/NAME
    kind: str  # "sae", "file" or "directions"
    layer: str
    encoder: torch.Tensor  # (F, C)
    encoder_bias: torch.Tensor  # (F,)
    decoder: torch.Tensor  # (F, C)
    decoder_bias: torch.Tensor  # (C,)
    activation: str = "topk"
    k: int = 0  # topk: features kept per position
    mean: torch.Tensor | None = None  # (C,) input mean subtracted first (None: 0)
    threshold: torch.Tensor | None = None  # (F,) jumprelu: a code fires above it
    scale: float = 1.0  # input scale divided next
    names: tuple[str, ...] = ()  # directions: one name per feature
    refine: int = 0  # steps refining the codes' magnitudes on their support (atlas.models.refine)
    meta: dict[str, Any] = field(default_factory=dict)  # how it was made, metrics, source

    @property
    def width(self) -> int:
        return int(self.encoder.shape[1])

    @property
    def size(self) -> int:
        return int(self.encoder.shape[0])

    @property
    def unit_layer(self) -> str:
        return f"{self.layer}/{self.name}"

    def check(self, where: str) -> None:
        """Shapes agree and values are finite; one line naming ``where`` (a file) if not."""
        f, c = self.encoder.shape
        problems = []
        if self.decoder.shape != (f, c):
            problems.append(f"decoder {tuple(self.decoder.shape)} vs encoder {(f, c)}")
        if self.encoder_bias.shape != (f,):
            problems.append(f"encoder bias {tuple(self.encoder_bias.shape)}, want ({f},)")
        if self.decoder_bias.shape != (c,):
            problems.append(f"decoder bias {tuple(self.decoder_bias.shape)}, want ({c},)")
        if self.mean is not None and self.mean.shape != (c,):
            problems.append(f"input mean {tuple(self.mean.shape)}, want ({c},)")
        if self.activation not in ACTIVATIONS:
            problems.append(f"activation {self.activation!r} (valid: {', '.join(ACTIVATIONS)})")
        if self.activation == "topk" and not 0 < self.k <= f:
            problems.append(f"k {self.k} for {f} features")
        if self.activation == "jumprelu" and (self.threshold is None
                                              or self.threshold.shape != (f,)):
            problems.append(f"jumprelu needs a threshold of shape ({f},)")
        if self.refine < 0 or (self.refine and self.activation == "none"):
            problems.append(f"refine {self.refine} (steps >= 0, for non-negative codes only)")
        if self.names and len(self.names) != f:
            problems.append(f"{len(self.names)} names for {f} features")
        tensors = [self.encoder, self.encoder_bias, self.decoder, self.decoder_bias]
        if not all(bool(torch.isfinite(t).all()) for t in tensors) or not self.scale > 0:
            problems.append("non-finite values or a scale <= 0")
        if problems:
            raise AtlasError(f"basis {where} is not a valid basis: {'; '.join(problems)}")

    def to(self, device: torch.device) -> Basis:
        move = {k: getattr(self, k).to(device) for k in
                ("encoder", "encoder_bias", "decoder", "decoder_bias")}
        for name in ("mean", "threshold"):
            if getattr(self, name) is not None:
                move[name] = getattr(self, name).to(device)
        return replace(self, **move)

    # ---- the formula, on (..., C) rows ------------------------------------------------------
    def normalized(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = x - self.mean.to(x)
        return x / self.scale if self.scale != 1.0 else x

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        """The input in the normalized space, less the decoder bias: what the encoder reads
        and what the refinement fits."""
        return self.normalized(x) - self.decoder_bias.to(x)

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        return affine(self._centred(x), self.encoder.to(x), self.encoder_bias.to(x))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        t = self._centred(x)  # once: the refinement fits the same rows the encoder read
        return code_of(t, self.encoder.to(x), self.encoder_bias.to(x), self.decoder, self)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        xn = z @ self.decoder.to(z) + self.decoder_bias.to(z)
        xn = xn * self.scale if self.scale != 1.0 else xn
        return xn + self.mean.to(z) if self.mean is not None else xn

    def direction(self, f: torch.Tensor) -> torch.Tensor:
        """Decoder rows of features ``f`` in input units (N, C): what ablating moves along."""
        return self.decoder[f] * self.scale


def affine(t: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``t @ weight.T + bias`` over the last dimension of any shape, the bias added inside
    the matrix product (a separate pass over the (positions, F) result was an eighth of the
    product's time in mining)."""
    out = torch.addmm(bias, t.reshape(-1, t.shape[-1]), weight.T)
    return out.view(*t.shape[:-1], weight.shape[0])


def code_of(t: torch.Tensor, encoder: torch.Tensor, encoder_bias: torch.Tensor,
            decoder: torch.Tensor, basis: Basis) -> torch.Tensor:
    """The code of rows ``t`` (..., C) (normalized, less the decoder bias) under ``basis``'s
    activation and refinement, with these weights (a fine-tune passes the ones it tunes)."""
    pre = affine(t, encoder, encoder_bias)
    if basis.refine and basis.activation == "topk":
        # TopK's support is its own top k: refine there, without finding it again
        flat = pre.reshape(-1, pre.shape[-1])
        vals, idx = top_k(flat, basis.k)
        zs = on_support(vals.clamp_min(0), idx, t.reshape(-1, t.shape[-1]), decoder,
                        basis.refine)
        return dense(zs, idx, flat).view_as(pre)
    z = activate(pre, basis.activation, basis.k, basis.threshold)
    return refined(z, t, decoder, basis.refine) if basis.refine else z


def activate(pre: torch.Tensor, activation: str, k: int,
             threshold: torch.Tensor | None = None) -> torch.Tensor:
    """The code from the pre-activation: TopK keeps the k largest per row (then ReLU);
    JumpReLU keeps the pre-activations above each feature's threshold."""
    if activation == "none":
        return pre
    if activation == "relu":
        return pre.clamp_min(0)
    if activation == "jumprelu":
        thr = threshold.to(pre) if threshold is not None else torch.zeros_like(pre[..., :1])
        return pre * (pre > thr.clamp_min(0))
    vals, idx = top_k(pre, k)
    return dense(vals.clamp_min(0), idx, pre)


def top_k(x: torch.Tensor, k: int, group: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``x.topk(k, dim=-1)``, the same values and indices, about 1.5x faster on a CPU.

    A CPU top-k partially sorts each row, and at a basis's F in the hundreds and thousands and
    mining's thousands of positions per batch that was a tenth of mining's time. The k largest
    entries lie in the k groups (of ``group`` neighbours) with the largest maxima: every other
    group's maximum is at most the k-th largest group maximum, itself at most the k-th largest
    entry, so only ties can sit outside, and they have the same value. So the rows' group
    maxima are ranked and the full sort runs on k * group candidates per row."""
    f = x.shape[-1]
    if x.device.type != "cpu" or f % group or f // group < 2 * k:
        return x.topk(k, dim=-1)
    rows = x.reshape(-1, f // group, group)
    best = rows.amax(-1).topk(k, dim=-1, sorted=False).indices  # (rows, k) groups
    cand = rows.gather(1, best.unsqueeze(-1).expand(-1, -1, group)).flatten(1)
    vals, j = cand.topk(k, dim=-1)
    idx = best.gather(1, torch.div(j, group, rounding_mode="floor")) * group + j % group
    return vals.view(*x.shape[:-1], k), idx.view(*x.shape[:-1], k)


def on_channels(a: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply a per-position map of the channel vector to a layer output in any form: (B, C, H, W)
    maps, (B, T, C) tokens or (B, C) vectors; the result has the same form with F channels."""
    if a.dim() == 4:
        return fn(a.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return fn(a)


def reader(basis: Basis, pre: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The hook's transform of the base layer's output into codes (or pre-activations)."""
    fn = basis.pre if pre else basis.codes
    return lambda a: on_channels(a, fn)


def ablate(basis: Basis, a: torch.Tensor, units: torch.Tensor,
           means: torch.Tensor) -> torch.Tensor:
    """Row i of ``a`` (the base layer's output) with feature ``units[i]`` set to ``means[i]``
    at every position (see the module note on exactness)."""
    x = a.permute(0, 2, 3, 1) if a.dim() == 4 else a  # channels last: (N, ..., C)
    lead = [1] * (x.dim() - 2)
    z = basis.codes(x).gather(-1, units.to(x.device).view(-1, *lead, 1).expand(
        *x.shape[:-1], 1))  # (N, ..., 1)
    d = basis.direction(units.cpu()).to(x).view(x.shape[0], *lead, x.shape[-1])
    out = (x - z * d) + means.to(x).view(-1, *lead, 1) * d
    return out.permute(0, 3, 1, 2) if a.dim() == 4 else out


# ---- files ----------------------------------------------------------------------------------
def split_name(unit_layer: str) -> tuple[str, str, bool]:
    """``LAYER/NAME[/pre]`` -> (LAYER, NAME, pre); ``LAYER`` -> (LAYER, "", False)."""
    pre = unit_layer.endswith(PRE) and unit_layer.count("/") >= 2
    base = unit_layer[: -len(PRE)] if pre else unit_layer
    layer, sep, name = base.rpartition("/")
    return (layer, name, pre) if sep and layer else (unit_layer, "", False)


def files(path: str | Path) -> list[Path]:
    """The files a basis at ``path`` is read from (for fingerprints), as :func:`load` finds
    them."""
    p = Path(path).expanduser()
    if p.is_dir():
        cfg = p / "cfg.json"
        own = sorted(p.glob("*.json"))
        p = cfg if cfg.is_file() else (own[0] if len(own) == 1 else p)
    if p.name == "cfg.json":
        return [p, p.with_name("sae_weights.safetensors")]
    if p.suffix == ".json":
        return [p, p.with_suffix(".safetensors")]
    return [q for q in (p, p.with_suffix(".json"), p.with_suffix(".txt")) if q.is_file()]


def fingerprint(path: str | Path) -> str:
    """A hash of the basis files' bytes: a changed file is a changed basis."""
    h = hashlib.sha256()
    for f in files(path):
        h.update(f.name.encode())
        h.update(f.read_bytes() if f.is_file() else b"missing")
    return h.hexdigest()[:16]


def save(basis: Basis, folder: Path) -> Path:
    """Write ``folder/NAME.safetensors`` and ``folder/NAME.json`` (atlas's neutral format)."""
    from safetensors.torch import save as st_save

    from atlas.io.files import atomic_write_bytes, atomic_write_json

    tensors = {"encoder": basis.encoder, "encoder_bias": basis.encoder_bias,
               "decoder": basis.decoder, "decoder_bias": basis.decoder_bias}
    if basis.mean is not None:
        tensors["input_mean"] = basis.mean
    if basis.threshold is not None:
        tensors["threshold"] = basis.threshold
    blob = st_save({k: v.detach().float().contiguous().cpu() for k, v in tensors.items()})
    atomic_write_bytes(folder / f"{basis.name}.safetensors", blob)
    meta = {"format": FORMAT, "name": basis.name, "kind": basis.kind, "layer": basis.layer,
            "features": basis.size, "channels": basis.width, "activation": basis.activation,
            "k": basis.k, "input_scale": basis.scale, "names": list(basis.names),
            "refine": basis.refine, **basis.meta}
    atomic_write_json(folder / f"{basis.name}.json", meta)
    return folder / f"{basis.name}.json"


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if path.suffix == ".npy":
            import numpy as np

            return {"directions": torch.from_numpy(np.load(path, allow_pickle=False))}
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated, corrupt or foreign file
        first = (str(e).splitlines() or [""])[0][:120]
        raise AtlasError(f"basis file {str(path)!r} cannot be read: {type(e).__name__}: "
                         f"{first}") from None
    if isinstance(obj, torch.Tensor):
        return {"directions": obj}
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise AtlasError(f"basis file {str(path)!r} holds a {type(obj).__name__}, not tensors")


def load(path: str | Path, name: str = "", layer: str = "") -> Basis:
    """A basis from a file: atlas's ``NAME.json`` (+ ``NAME.safetensors``), a SAELens folder
    or ``cfg.json`` (+ ``sae_weights.safetensors``), or directions (``.npy``, ``.pt``,
    ``.safetensors``; names from ``.json`` or ``.txt`` beside it). ``name`` and ``layer``
    override what the file says (a directions file names neither)."""
    found = files(path)
    p = found[0] if found else Path(path)
    if not p.is_file():
        raise AtlasError(f"basis file {str(path)!r} does not exist (give atlas's NAME.json, a "
                         "SAELens folder or cfg.json, or directions as .npy/.pt/.safetensors)")
    if p.name == "cfg.json":
        return _saelens(p, name, layer)
    if p.suffix == ".json":
        return _atlas(p, name, layer)
    return _directions(p, name, layer)


def _json(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AtlasError(f"basis file {str(p)!r} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise AtlasError(f"basis file {str(p)!r} holds a {type(data).__name__}, not an object")
    return data


def _need(t: dict[str, torch.Tensor], keys: tuple[str, ...], where: Path) -> None:
    missing = [k for k in keys if k not in t]
    if missing:
        raise AtlasError(f"basis file {str(where)!r} lacks {', '.join(missing)} (has: "
                         f"{', '.join(sorted(t)) or 'nothing'})")


def _atlas(p: Path, name: str, layer: str) -> Basis:
    meta = _json(p)
    t = _read_tensors(p.with_suffix(".safetensors"))
    _need(t, ("encoder", "encoder_bias", "decoder", "decoder_bias"), p.with_suffix(
        ".safetensors"))
    extra = {k: v for k, v in meta.items() if k not in (
        "format", "name", "kind", "layer", "features", "channels", "activation", "k",
        "input_scale", "names", "refine")}
    basis = Basis(name=name or str(meta.get("name") or p.stem), kind=str(meta.get("kind", "file")),
                  layer=layer or str(meta.get("layer", "")), encoder=t["encoder"].float(),
                  encoder_bias=t["encoder_bias"].float(), decoder=t["decoder"].float(),
                  decoder_bias=t["decoder_bias"].float(),
                  activation=str(meta.get("activation", "topk")), k=int(meta.get("k", 0) or 0),
                  mean=t["input_mean"].float() if "input_mean" in t else None,
                  threshold=t["threshold"].float() if "threshold" in t else None,
                  scale=float(meta.get("input_scale", 1.0)),
                  names=tuple(str(n) for n in meta.get("names") or ()),
                  refine=int(meta.get("refine", 0) or 0), meta=extra)
    basis.check(str(p))
    return basis


def _saelens(p: Path, name: str, layer: str) -> Basis:
    """SAELens's layout: ``cfg.json`` and ``sae_weights.safetensors`` with W_enc (C, F), b_enc,
    W_dec (F, C), b_dec and, for JumpReLU, a per-feature threshold."""
    cfg = _json(p)
    weights = p.with_name("sae_weights.safetensors")
    t = _read_tensors(weights)
    _need(t, ("W_enc", "b_enc", "W_dec", "b_dec"), weights)
    arch = str(cfg.get("architecture", cfg.get("activation_fn_str", "standard")))
    k = int((cfg.get("activation_fn_kwargs") or {}).get("k", 0) or cfg.get("k", 0) or 0)
    activation = ("jumprelu" if "threshold" in t else
                  "topk" if k or "topk" in arch.lower() else "relu")
    hook = str(cfg.get("hook_name") or cfg.get("hook_point") or "")
    basis = Basis(name=name or "sae", kind="file", layer=layer or hook,
                  encoder=t["W_enc"].float().T.contiguous(), encoder_bias=t["b_enc"].float(),
                  decoder=t["W_dec"].float(), decoder_bias=t["b_dec"].float(),
                  activation=activation, k=k,
                  threshold=t["threshold"].float() if "threshold" in t else None,
                  meta={"source": "SAELens", "architecture": arch,
                        "model": str(cfg.get("model_name", ""))})
    basis.check(str(weights))
    return basis


def _directions(p: Path, name: str, layer: str) -> Basis:
    t = _read_tensors(p)
    d = t.get("directions", next(iter(t.values())) if len(t) == 1 else None)
    if d is None:
        raise AtlasError(f"basis file {str(p)!r} holds several tensors ({', '.join(sorted(t))})"
                         "; a directions file holds one (F, C) tensor named 'directions'")
    d = d.float()
    if d.dim() == 1:
        d = d[None]
    if d.dim() != 2 or not d.shape[0]:
        raise AtlasError(f"basis file {str(p)!r}: directions must be (F, C), got "
                         f"{tuple(d.shape)}")
    norms = d.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise AtlasError(f"basis file {str(p)!r}: a direction is all zeros")
    names = _names(p, d.shape[0])
    unit = d / norms  # a code is the length of the projection on the direction
    return Basis(name=name or p.stem, kind="directions", layer=layer, encoder=unit,
                 encoder_bias=torch.zeros(d.shape[0]), decoder=unit.clone(),
                 decoder_bias=torch.zeros(d.shape[1]), activation="none", names=names,
                 meta={"source": str(p)})


def _names(p: Path, n: int) -> tuple[str, ...]:
    for side in (p.with_suffix(".json"), p.with_suffix(".txt")):
        if side.is_file():
            names = (json.loads(side.read_text(encoding="utf-8")).get("names", [])
                     if side.suffix == ".json" else side.read_text(encoding="utf-8").split("\n"))
            names = [str(x).strip() for x in names if str(x).strip()]
            if len(names) != n:
                raise AtlasError(f"{str(side)!r} names {len(names)} directions, the file holds "
                                 f"{n}")
            return tuple(names)
    return tuple(f"direction {i}" for i in range(n))
