"""A mergeable relative-error quantile sketch (the DDSketch algorithm), vectorised with numpy.

Why not the ``ddsketch`` package: it adds values one at a time in Python, which is the cost
we cannot pay on the ingest path (it would dominate a 100k-events/s budget). The algorithm is
small: values map to logarithmic bins of ratio gamma = (1+a)/(1-a), so any quantile read back
is within relative accuracy ``a`` (1%) of a true sample value; sketches merge by adding bin
counts, so rollups can be combined across buckets, series and replicas.

Stored form (text, ``signal_rollups.sketch``), whichever of these is shorter for the sketch:

* pairs: standard base64 of little-endian int32 pairs ``(signed bin, count)`` in ascending
  bin order. The signed bin is +k / -k for positive / negative values, 0 for (near) zero.
  A count above 2**31 - 1 is split over several pairs of the same bin.
* dense: ``"."`` (uint8 counts) or ``":"`` (uint16 counts) followed by base64 of an int32
  first bin and then the count of every bin from it on, zeros included. Dense buckets (many
  values, so most bins in a range are occupied) take a third to a quarter of the pairs size.

The markers are not base64 characters, so ``a2b_base64`` skips them: many sketches decode
with one ``a2b_base64`` per text, one join and a few numpy operations over all of them
(:func:`decode_many`, :func:`text_quantiles`), instead of a JSON parse and a dict walk each.
The earlier JSON form ``{"z": zeros, "p": {bin: count}, "n": {bin: count}}`` (converted by
the ``sketch_pairs`` migration) is still read by :func:`loads` and :func:`decode_many`;
:func:`loads` returns that dict shape for every form.
Tests check quantiles against numpy on the same data and against the ``ddsketch`` bin mapping.
"""

from __future__ import annotations

import binascii
import functools
import math
import operator
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
MIN_INDEXABLE = 1e-9
MAX_PAIR_COUNT = 2**31 - 1
PAIR = np.dtype("<i4")

Bins = dict[str, Any]
IntArray = npt.NDArray[np.int64]


def bin_indices(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Signed bin index per value: +k / -k for positive / negative bins, 0 for (near) zero.

    Positive bin k >= 1 holds values in (gamma^(k-1+o), gamma^(k+o)] where o shifts indices so
    that every value >= MIN_INDEXABLE gets k >= 1.
    """
    magnitude = np.abs(values)
    out = np.zeros(values.shape, dtype=np.int64)
    nonzero = magnitude >= MIN_INDEXABLE
    if nonzero.any():
        k = np.ceil(np.log(magnitude[nonzero]) / LOG_GAMMA).astype(np.int64) - _OFFSET
        out[nonzero] = np.where(values[nonzero] > 0, k, -k)
    return out


_OFFSET = math.ceil(math.log(MIN_INDEXABLE) / LOG_GAMMA) - 1


@functools.lru_cache(maxsize=65_536)
def bin_value(k: int) -> float:
    """The representative value of signed bin ``k`` (within relative accuracy of its members)."""
    if k == 0:
        return 0.0
    index = abs(k) + _OFFSET
    value = 2.0 * GAMMA**index / (GAMMA + 1.0)
    return value if k > 0 else -value


def bin_values(keys: IntArray) -> npt.NDArray[np.float64]:
    """``bin_value`` of every signed bin in ``keys`` (the same floats, computed once per bin)."""
    if not len(keys):
        return np.zeros(0, dtype=np.float64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    table = np.array([bin_value(k) for k in uniq.tolist()], dtype=np.float64)
    return table[inverse.reshape(-1)]


# ---------------------------------------------------------------- stored text

DENSE8 = "."  # marks a dense sketch with uint8 counts
DENSE16 = ":"  # marks a dense sketch with uint16 counts
_DENSE_DTYPE: dict[str, np.dtype[Any]] = {DENSE8: np.dtype("u1"), DENSE16: np.dtype("<u2")}
_DENSE_MAX = {DENSE8: 255, DENSE16: 65_535}


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """The positions start_i .. start_i + length_i - 1 of every range, concatenated."""
    total = int(lengths.sum())
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    out: IntArray = shift + np.arange(total, dtype=np.int64)
    return out


def _split_large(
    group: IntArray, keys: IntArray, counts: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Pairs whose count exceeds int32 become several pairs of the same bin."""
    reps = np.maximum((counts + MAX_PAIR_COUNT - 1) // MAX_PAIR_COUNT, 1)
    out_counts = np.full(int(reps.sum()), MAX_PAIR_COUNT, dtype=np.int64)
    out_counts[np.cumsum(reps) - 1] = counts - (reps - 1) * MAX_PAIR_COUNT
    return np.repeat(group, reps), np.repeat(keys, reps), out_counts


def _layout(n: int, span: int, most: int) -> str:
    """The smallest form for a sketch of n bins over ``span`` consecutive bins: "" = pairs."""
    best, size = "", 8 * n
    if n and most <= 255 and 4 + span < size:
        best, size = DENSE8, 4 + span
    if n and 255 < most <= 65_535 and 4 + 2 * span < size:
        best = DENSE16
    return best


def encode_groups(starts: IntArray, keys: IntArray, counts: IntArray) -> list[str]:
    """Texts of many sketches at once.

    ``keys``/``counts``: the bins of every sketch, sorted by (sketch, bin), one entry per
    distinct bin; sketch i's bins start at ``starts[i]``. Each sketch takes the smaller of the
    pairs form and (when its counts allow) the dense form; see the module docstring.
    """
    n_groups = len(starts)
    if not n_groups:
        return []
    ends = np.append(starts[1:], len(keys)).astype(np.int64)
    sizes = ends - starts
    filled = sizes > 0
    lo = np.zeros(n_groups, dtype=np.int64)
    hi = np.zeros(n_groups, dtype=np.int64)
    most = np.zeros(n_groups, dtype=np.int64)
    if len(keys):
        first = starts[filled]
        lo[filled] = keys[first]
        hi[filled] = keys[ends[filled] - 1]
        most[filled] = np.maximum.reduceat(counts, first)
    span = hi - lo + 1
    layouts = [
        _layout(n, s, m)
        for n, s, m in zip(sizes.tolist(), span.tolist(), most.tolist(), strict=True)
    ]
    group = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    b2a = binascii.b2a_base64
    out: list[str] = [""] * n_groups
    # pairs
    is_pairs = np.array([form == "" for form in layouts], dtype=bool) & filled
    if is_pairs.any():
        mine = is_pairs[group]
        g, k, c = group[mine], keys[mine], counts[mine]
        if int(c.max()) > MAX_PAIR_COUNT:
            g, k, c = _split_large(g, k, c)
        pairs = np.empty((len(k), 2), dtype=PAIR)
        pairs[:, 0] = k
        pairs[:, 1] = c
        buffer = memoryview(pairs.tobytes())
        which = np.flatnonzero(is_pairs)
        bounds = [*np.searchsorted(g, which, side="left").tolist(), len(g)]
        for i, a, b in zip(which.tolist(), bounds[:-1], bounds[1:], strict=True):
            out[i] = b2a(buffer[8 * a : 8 * b], newline=False).decode("ascii")
    # dense
    for mark, dtype in _DENSE_DTYPE.items():
        is_dense = np.array([form == mark for form in layouts], dtype=bool)
        if not is_dense.any():
            continue
        which = np.flatnonzero(is_dense)
        lengths = span[which]
        offset = np.zeros(n_groups, dtype=np.int64)
        offset[which] = np.cumsum(lengths) - lengths
        mine = is_dense[group]
        g = group[mine]
        dense = np.zeros(int(lengths.sum()), dtype=dtype)
        dense[offset[g] + keys[mine] - lo[g]] = counts[mine]
        body = memoryview(dense.tobytes())
        w = dtype.itemsize
        for i, start, length, k_lo in zip(
            which.tolist(),
            offset[which].tolist(),
            lengths.tolist(),
            lo[which].tolist(),
            strict=True,
        ):
            payload = struct.pack("<i", k_lo) + body[w * start : w * (start + length)]
            out[i] = mark + b2a(payload, newline=False).decode("ascii")
    return out


def encode(keys: Sequence[int] | IntArray, counts: Sequence[int] | IntArray) -> str:
    """The text of one sketch from its distinct signed bins (ascending) and their counts."""
    k = np.asarray(keys, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    return encode_groups(np.zeros(1, dtype=np.int64), k, c)[0]


def _encode_dict(bins: dict[int, int]) -> str:
    """``encode`` of {signed bin: count} without numpy (the per-row SQL merge)."""
    keys = sorted(k for k, c in bins.items() if c)
    if not keys:
        return ""
    counts = [bins[k] for k in keys]
    form = _layout(len(keys), keys[-1] - keys[0] + 1, max(counts))
    if form == "":
        flat: list[int] = []
        for k, c in zip(keys, counts, strict=True):
            rest = c
            while rest > MAX_PAIR_COUNT:
                flat.extend((k, MAX_PAIR_COUNT))
                rest -= MAX_PAIR_COUNT
            flat.extend((k, rest))
        payload = struct.pack(f"<{len(flat)}i", *flat)
        return binascii.b2a_base64(payload, newline=False).decode("ascii")
    dense = [0] * (keys[-1] - keys[0] + 1)
    for k, c in zip(keys, counts, strict=True):
        dense[k - keys[0]] = c
    code = "B" if form == DENSE8 else "H"
    payload = struct.pack(f"<i{len(dense)}{code}", keys[0], *dense)
    return form + binascii.b2a_base64(payload, newline=False).decode("ascii")


@functools.lru_cache(maxsize=65_536)
def single(k: int) -> str:
    """The text of a sketch holding one value, in signed bin ``k``."""
    return _encode_dict({k: 1})


def _is_json(text: str) -> bool:
    return text[:1] == "{"


_FIRST = operator.itemgetter(0)


def _json_pairs(text: str) -> tuple[list[int], list[int]]:
    data = orjson.loads(text)
    keys = [-int(k) for k in data.get("n", {})]
    counts = [int(c) for c in data.get("n", {}).values()]
    if data.get("z"):
        keys.append(0)
        counts.append(int(data["z"]))
    keys.extend(int(k) for k in data.get("p", {}))
    counts.extend(int(c) for c in data.get("p", {}).values())
    return keys, counts


def _pairs_of(text: str) -> tuple[list[int], list[int]]:
    """(signed bins, counts) of one stored text, any form, without numpy."""
    if _is_json(text):
        return _json_pairs(text)
    raw = binascii.a2b_base64(text)
    if text[:1] in _DENSE_DTYPE:
        code = "B" if text[:1] == DENSE8 else "H"
        n = (len(raw) - 4) // (1 if code == "B" else 2)
        k_lo, *dense = struct.unpack(f"<i{n}{code}", raw)
        keys = [k_lo + i for i, c in enumerate(dense) if c]
        return keys, [c for c in dense if c]
    values = struct.unpack(f"<{len(raw) // 4}i", raw)
    return list(values[::2]), list(values[1::2])


def _decode_slow(texts: Sequence[str | None]) -> tuple[IntArray, IntArray, IntArray]:
    parts_k: list[int] = []
    parts_c: list[int] = []
    sizes = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        if not text:
            continue
        keys, counts = _pairs_of(text)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        parts_k.extend(keys[j] for j in order)
        parts_c.extend(counts[j] for j in order)
        sizes[i] = len(keys)
    index = np.repeat(np.arange(len(texts), dtype=np.int64), sizes)
    return index, np.array(parts_k, dtype=np.int64), np.array(parts_c, dtype=np.int64)


def decode_many(texts: Sequence[str | None]) -> tuple[IntArray, IntArray, IntArray]:
    """All bins of many stored sketches: (index of the text, signed bin, count) arrays.

    Within one text the bins come in ascending order, with counts > 0 (a bin may repeat in
    the pairs form, see the module docstring; add the counts of equal (text, bin) if that
    matters). Any mix of forms, including the earlier JSON form, is read.
    """
    index, keys, counts = _decode(texts)
    keep = counts > 0
    if keep.all():
        return index, keys, counts
    return index[keep], keys[keep], counts[keep]


def _dense_parts(
    data: npt.NDArray[np.uint8], starts: IntArray, sizes: IntArray, narrow: bool
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Dense texts of one width, decoded back to back: (first bin, offset, length) per text
    and the counts of all of them in order (the headers dropped, nothing scattered)."""
    dtype = _DENSE_DTYPE[DENSE8 if narrow else DENSE16]
    headers = _ranges(starts, np.full(len(starts), 4, dtype=np.int64))
    k_lo = data[headers].view(PAIR).astype(np.int64)
    counts = np.delete(data, headers).view(dtype).astype(np.int64)
    lengths = (sizes - 4) // dtype.itemsize
    return k_lo, np.cumsum(lengths) - lengths, lengths, counts


def text_quantiles(texts: Sequence[str | None], qs: Sequence[float]) -> npt.NDArray[np.float64]:
    """Quantiles of each stored sketch: an (len(texts), len(qs)) array, NaN where empty.

    The same numbers as :func:`bucket_quantiles` over :func:`decode_many`; when every text is
    dense of one width (dense buckets, the usual case at high rates) no bin index array is
    built at all: the bin of a rank is the text's first bin plus its offset.
    """
    n = len(texts)
    try:
        heads = "".join(map(_FIRST, texts))  # type: ignore[arg-type]
    except (TypeError, IndexError):
        heads = ""
    narrow = heads == DENSE8 * n
    if n and (narrow or heads == DENSE16 * n):
        blobs = list(map(binascii.a2b_base64, texts))  # type: ignore[arg-type]
        sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
        data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        k_lo, first, lengths, counts = _dense_parts(data, np.cumsum(sizes) - sizes, sizes, narrow)
        cum = np.cumsum(counts)
        at_end = cum[first + lengths - 1]
        cum_f = cum.astype(np.float64)  # searchsorted compares in float: convert once
        before = np.concatenate(([0], at_end[:-1]))
        totals = at_end - before
        out = np.full((n, len(qs)), np.nan)
        has = totals > 0
        last = len(cum) - 1
        for j, q in enumerate(qs):
            target = before + q * (totals - 1)
            idx = np.minimum(np.searchsorted(cum_f, target, side="right"), last)
            out[has, j] = bin_values((k_lo + idx - first)[has])
        return out
    index, keys, counts = _decode(texts)
    return bucket_quantiles(index, keys, counts, n, qs, presorted=True)


def _decode(texts: Sequence[str | None]) -> tuple[IntArray, IntArray, IntArray]:
    """``decode_many`` that may keep the empty bins of dense texts (harmless for quantiles)."""
    n = len(texts)
    try:
        heads = "".join(map(_FIRST, texts))  # type: ignore[arg-type]
    except (TypeError, IndexError):  # None or "" among them
        return _decode_slow(texts)
    if "{" in heads:
        return _decode_slow(texts)
    blobs = list(map(binascii.a2b_base64, texts))  # type: ignore[arg-type]
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    starts = np.cumsum(sizes) - sizes
    forms = np.frombuffer(heads.encode("ascii"), dtype=np.uint8)
    dense8 = forms == ord(DENSE8)
    dense16 = forms == ord(DENSE16)
    n8, n16 = int(dense8.sum()), int(dense16.sum())
    if not n8 and not n16:  # pairs only: one reinterpretation
        pairs = data.view(PAIR).reshape(-1, 2)
        index = np.repeat(np.arange(n, dtype=np.int64), sizes // 8)
        return index, pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    if n in (n8, n16):  # dense only, one width
        k_lo, first, lengths, counts = _dense_parts(data, starts, sizes, n8 == n)
        keys = np.repeat(k_lo - first, lengths) + np.arange(len(counts), dtype=np.int64)
        return np.repeat(np.arange(n, dtype=np.int64), lengths), keys, counts
    entries = np.where(dense8, sizes - 4, np.where(dense16, (sizes - 4) // 2, sizes // 8))
    out_start = np.cumsum(entries) - entries
    total = int(entries.sum())
    keys = np.empty(total, dtype=np.int64)
    counts = np.empty(total, dtype=np.int64)
    paired = ~(dense8 | dense16)
    if paired.any():
        pairs = data[_ranges(starts[paired], sizes[paired])].view(PAIR).reshape(-1, 2)
        where = _ranges(out_start[paired], entries[paired])
        keys[where] = pairs[:, 0]
        counts[where] = pairs[:, 1]
    for mask, dtype in ((dense8, _DENSE_DTYPE[DENSE8]), (dense16, _DENSE_DTYPE[DENSE16])):
        if not mask.any():
            continue
        head = data[_ranges(starts[mask], np.full(int(mask.sum()), 4, dtype=np.int64))]
        body = data[_ranges(starts[mask] + 4, sizes[mask] - 4)].view(dtype)
        lengths = entries[mask]
        where = _ranges(out_start[mask], lengths)
        counts[where] = body
        first_bin = head.view(PAIR).astype(np.int64)
        keys[where] = np.repeat(first_bin - out_start[mask], lengths) + where
    return np.repeat(np.arange(n, dtype=np.int64), entries), keys, counts


def merge_many(texts: Sequence[str | None], group: IntArray, n_groups: int) -> list[str]:
    """Merge stored sketches: text i goes into sketch ``group[i]``; returns ``n_groups`` texts."""
    index, keys, counts = decode_many(texts)
    if not len(keys):
        return [""] * n_groups
    g = np.asarray(group, dtype=np.int64)[index]
    k_lo = int(keys.min())
    span = int(keys.max()) - k_lo + 1
    combined = g * span + (keys - k_lo)
    order = np.argsort(combined, kind="stable")
    combined = combined[order]
    first = np.flatnonzero(np.r_[True, combined[1:] != combined[:-1]])
    sums = np.add.reduceat(counts[order], first)
    uniq = combined[first]
    starts = np.searchsorted(uniq // span, np.arange(n_groups), side="left")
    return encode_groups(starts, uniq % span + k_lo, sums)


# ---------------------------------------------------------------- the dict view


def from_indices(indices: Iterable[int], counts: Iterable[int]) -> Bins:
    zero = 0
    pos: dict[str, int] = {}
    neg: dict[str, int] = {}
    for index, n in zip(indices, counts, strict=True):
        k, c = int(index), int(n)
        if k == 0:
            zero += c
        elif k > 0:
            pos[str(k)] = pos.get(str(k), 0) + c
        else:
            neg[str(-k)] = neg.get(str(-k), 0) + c
    return {"z": zero, "p": pos, "n": neg}


def dumps(bins: Bins) -> str:
    """The stored text of a sketch given as ``{"z": ..., "p": {...}, "n": {...}}``."""
    merged: dict[int, int] = {}
    if bins.get("z"):
        merged[0] = int(bins["z"])
    for k, c in bins.get("p", {}).items():
        merged[int(k)] = merged.get(int(k), 0) + int(c)
    for k, c in bins.get("n", {}).items():
        merged[-int(k)] = merged.get(-int(k), 0) + int(c)
    return _encode_dict(merged)


def loads(text: str | None) -> Bins:
    """The sketch as ``{"z": zeros, "p": {str(bin): count}, "n": {str(bin): count}}``."""
    if not text:
        return {"z": 0, "p": {}, "n": {}}
    if _is_json(text):
        data: Bins = orjson.loads(text)
        data.setdefault("z", 0)
        data.setdefault("p", {})
        data.setdefault("n", {})
        return data
    keys, counts = _pairs_of(text)
    zero = 0
    pos: dict[str, int] = {}
    neg: dict[str, int] = {}
    for k, c in zip(keys, counts, strict=True):
        if k > 0:
            key = str(k)
            pos[key] = pos.get(key, 0) + c
        elif k < 0:
            key = str(-k)
            neg[key] = neg.get(key, 0) + c
        else:
            zero += c
    return {"z": zero, "p": pos, "n": neg}


def merge(a: Bins, b: Bins) -> Bins:
    out: Bins = {
        "z": int(a.get("z", 0)) + int(b.get("z", 0)),
        "p": dict(a.get("p", {})),
        "n": dict(a.get("n", {})),
    }
    for side in ("p", "n"):
        target = out[side]
        for k, c in b.get(side, {}).items():
            target[k] = target.get(k, 0) + int(c)
    return out


def merge_text(a: str | None, b: str | None) -> str:
    """Merge two stored sketches (registered as the SQL function ``juncture_merge_sketch``)."""
    merged: dict[int, int] = {}
    for text in (a, b):
        if text:
            keys, counts = _pairs_of(text)
            get = merged.get
            for k, c in zip(keys, counts, strict=True):
                merged[k] = get(k, 0) + c
    return _encode_dict(merged)


def count(bins: Bins) -> int:
    return (
        int(bins.get("z", 0))
        + sum(int(c) for c in bins["p"].values())
        + sum(int(c) for c in bins["n"].values())
    )


def quantiles(bins: Bins, qs: Iterable[float]) -> list[float | None]:
    """Quantiles (0..1) of the sketched values; None for an empty sketch.

    The rank of quantile q is q * (n - 1); the answer is the representative value of the bin
    holding that rank (the "lower" quantile, within the sketch's relative accuracy).
    """
    wanted = list(qs)
    # Ascending values: negative bins by falling magnitude, zeros, positive bins by rising index.
    ordered = [(-int(k), int(c)) for k, c in bins["n"].items()]
    ordered.sort()
    zero = int(bins.get("z", 0))
    if zero:
        ordered.append((0, zero))
    positive = [(int(k), int(c)) for k, c in bins["p"].items()]
    positive.sort()
    ordered.extend(positive)
    total = sum(c for _, c in ordered)
    if total == 0:
        return [None for _ in wanted]
    targets = sorted((q * (total - 1), i) for i, q in enumerate(wanted))
    out: list[float | None] = [None] * len(wanted)
    seen = 0
    t = 0
    for k, c in ordered:
        seen += c
        while t < len(targets) and seen > targets[t][0]:
            out[targets[t][1]] = bin_value(k)
            t += 1
        if t == len(targets):
            break
    last = bin_value(ordered[-1][0])
    return [last if v is None else v for v in out]


def bucket_quantiles(
    index: IntArray,
    keys: IntArray,
    counts: IntArray,
    n_buckets: int,
    qs: Sequence[float],
    *,
    presorted: bool = False,
) -> npt.NDArray[np.float64]:
    """Quantiles of many sketches at once: an (n_buckets, len(qs)) array, NaN where empty.

    ``index``/``keys``/``counts`` as from :func:`decode_many` (index = bucket; bins with a
    zero count are allowed). One sort (skipped when ``presorted`` says the entries are in
    (bucket, bin) order, or they turn out to be), one cumulative sum and one searchsorted
    per quantile answer every bucket; the same rule as :func:`quantiles`.
    """
    out = np.full((n_buckets, len(qs)), np.nan)
    if not len(counts):
        return out
    if not presorted:
        k_lo = int(keys.min())
        span = int(keys.max()) - k_lo + 1
        combined = index * span + (keys - k_lo)
        if len(combined) > 1 and not bool(np.all(combined[1:] >= combined[:-1])):
            order = np.argsort(combined, kind="stable")
            index, keys, counts = index[order], keys[order], counts[order]
    cum = np.cumsum(counts)
    ends = np.searchsorted(index, np.arange(n_buckets), side="right")
    at_end = np.concatenate(([0], cum))[ends]
    before = np.concatenate(([0], at_end[:-1]))
    totals = at_end - before
    has = totals > 0
    last = len(cum) - 1
    cum_f = cum.astype(np.float64)  # searchsorted compares in float: convert once
    for j, q in enumerate(qs):
        target = before + q * (totals - 1)
        idx = np.minimum(np.searchsorted(cum_f, target, side="right"), last)
        out[has, j] = bin_values(keys[idx[has]])
    return out
