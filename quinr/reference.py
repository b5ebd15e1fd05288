"""Reference decoder for .qinr files, written from docs/bitstream.md alone (clean room), revised
with the spec (2026-11-29: zero padding, state range, tolerance; 2026-11-30: versions 5 and 6,
output map 2). It reads versions 1 to 6: the fixed header (section 2), the placement (2.1: the
entangler's pairs; target and layout only say where to run), the per-block M (2.2), the link
(2.3), the tensor table and dequantization (3), raw weights (4), the integer-Laplace rANS stream
(5), and decodes by simulating each circuit as a float64 / complex128 statevector (6, 7),
batched over coordinates. It checks the file in section 8's order and raises FormatError. It
refuses version 2 entropy model 1 (constriction's Gaussian), as section 5 says of a numpy-only
decoder, and decodes the whole grid only (6.1). Dependencies: standard library and numpy.
"""
import struct
import zlib

import numpy as np

__all__ = ["decode", "decode_unit", "FormatError"]

MAGIC = b"QINR"
HEADER = struct.Struct(">BHHBffBBHBBBBIffBB")  # offsets 5..40, section 2 (36 bytes)
LIMIT = 2.0 ** 32


class FormatError(Exception):
    """An invalid .qinr file, or one this numpy-only decoder does not support."""


def _require(cond, msg):
    if not cond:
        raise FormatError(msg)


def _parse_header(data):
    """Sections 1 and 2: magic, version, the fixed header and its ranges (section 8, 1-4)."""
    _require(data[:4] == MAGIC, "not a quinr bitstream (wrong magic)")
    _require(len(data) >= 5, "truncated file: no version")
    version = data[4]
    _require(version in (1, 2, 3, 4, 5, 6), f"unsupported format version {version}")
    _require(len(data) >= 5 + HEADER.size, "truncated file: fixed header")
    names = ("kind height width channels vmin vmax in_features nq m r e blocks "
             "shuffle seed w0 angle_scale output_map bits").split()
    h = dict(zip(names, HEADER.unpack_from(data, 5)))
    _require(h["kind"] in (0, 1, 2), "unknown signal kind")
    _require(h["height"] >= 1 and h["width"] >= 1 and h["height"] * h["width"] <= 2 ** 26,
             "signal size is out of range")
    _require(np.isfinite(h["vmin"]) and np.isfinite(h["vmax"]) and h["vmax"] >= h["vmin"], "invalid value range")
    _require(1 <= h["nq"] <= 20 and 1 <= h["m"] <= 4096 and 1 <= h["r"] <= 64 and 1 <= h["e"] <= 64
             and 1 <= h["blocks"] <= 8, "invalid network configuration in header")
    _require(1 <= h["channels"] <= 16 and h["channels"] <= 2 ** h["nq"], "invalid channel count")
    _require(h["in_features"] == 2 or (h["in_features"] == 1 and h["height"] == 1), "invalid in_features")
    _require(h["shuffle"] == 1, "unknown shuffle scheme id")
    _require(0 < h["w0"] <= 1000 and 0 < h["angle_scale"] <= 64, "w0 or angle scale out of range")
    _require(h["output_map"] in (1, 2), "unknown output map")
    _require(h["output_map"] == 1 or h["channels"] <= h["nq"], "invalid network configuration in header")
    _require(2 <= h["bits"] <= 32, "invalid bit depth")
    h["pairs"] = [(i, j) for i in range(h["nq"]) for j in range(i + 1, h["nq"])]
    h["end"], h["ms"], h["link"] = 5 + HEADER.size, [h["m"]] * h["blocks"], 0
    if version >= 4:
        _parse_placement(data, h)
    if version >= 5:  # section 2.2: u16 M of blocks 1 .. B-1
        n = h["blocks"] - 1
        _require(len(data) >= h["end"] + 2 * n + 4, "truncated file: the blocks' M")
        h["ms"] = [h["m"], *struct.unpack_from(f">{n}H", data, h["end"])]
        _require(all(1 <= m <= 4096 for m in h["ms"]), "invalid network configuration in header")
        h["end"] += 2 * n
    if version >= 6:  # section 2.3: u8 link 0 (<Z>), 1 (residual <Z>) or 2 (probabilities)
        _require(len(data) >= h["end"] + 1 + 4, "truncated file: the blocks' link")
        h["link"], h["end"] = data[h["end"]], h["end"] + 1
        _require(h["link"] <= 2, "unknown block link id")
    return version, h


def _parse_placement(data, h):
    """Section 2.1: entangler id (0 all, 1 linear, 2 ring, 3 listed pairs), target, layout."""
    pos, nq = h["end"], h["nq"]

    def take(n):
        nonlocal pos
        _require(len(data) >= pos + n + 4, "truncated file: placement")
        pos += n
        return data[pos - n:pos]

    kind = take(1)[0]
    _require(kind <= 3, "unknown entangler id")
    if kind == 1 or kind == 2:
        h["pairs"] = [(i, i + 1) for i in range(nq - 1)]
        if kind == 2 and nq > 2:
            h["pairs"] = sorted(h["pairs"] + [(0, nq - 1)])
    elif kind == 3:
        raw = take(2 * take(1)[0])
        pairs = [(raw[i], raw[i + 1]) for i in range(0, len(raw), 2)]
        _require(pairs == sorted(set(pairs)) and all(0 <= i < j < nq for i, j in pairs)
                 and (pairs or nq == 1), "invalid entangler pairs")
        h["pairs"] = pairs
    name = take(take(1)[0])
    _require(len(name) <= 64 and all(33 <= c < 127 for c in name), "invalid target name")
    count = take(1)[0]
    layout = struct.unpack(f">{count}H", take(2 * count))
    _require(len(layout) in (0, nq) and len(set(layout)) == len(layout), "invalid layout")
    h["end"] = pos


def _tensor_shapes(h):
    """Section 3: (name, element count) of the 3 blocks + 2 stored tensors, in order."""
    nq, p, out = h["nq"], 4 * h["nq"] + len(h["pairs"]), []
    for k, m in enumerate(h["ms"]):
        in_k = h["in_features"] if k == 0 else 2 ** nq if h["link"] == 2 else nq
        out += [(f"blocks.{k}.weight", m * in_k), (f"blocks.{k}.bias", m),
                (f"blocks.{k}.theta", h["r"] * h["e"] * p)]
    return out + [("scale", h["channels"]), ("offset", h["channels"])]


def _parse_table(data, version, h):
    """Section 3: the tensor table; returns a list of dicts and the offset after it."""
    pos, table = h["end"], []
    for name, size in _tensor_shapes(h):
        t = {"name": name, "size": size, "model": 0, "bits": h["bits"]}
        if version >= 2:
            _require(len(data) >= pos + 9, "truncated file: tensor table")
            byte = data[pos]
            t["model"], t["bits"] = byte >> 5, (byte & 31) + 1
            pos += 1
        _require(len(data) >= pos + 8, "truncated file: tensor table")
        (t["lo"], t["hi"]), pos = struct.unpack_from(">ff", data, pos), pos + 8
        b, model = t["bits"], t["model"]
        _require(2 <= b <= 32, f"{name}: invalid bit depth {b}")
        _require(model == 0 or (model == 1 and version == 2 and b <= 24)
                 or (model == 2 and version >= 3 and b <= 16), f"{name}: invalid entropy model")
        if version >= 2:  # step 5; version 1's ranges are checked in step 7, after the CRC
            _check_range(t)
        if model == 1:
            _require(len(data) >= pos + 8, "truncated file: tensor table")
            (mean, std), pos = struct.unpack_from(">ff", data, pos), pos + 8
            _require(np.isfinite(mean) and np.isfinite(std) and 0 < std < LIMIT
                     and abs(mean) < LIMIT, f"{name}: invalid Gaussian parameters")
        elif model == 2:
            _require(len(data) >= pos + 6, "truncated file: tensor table")
            (t["mu"], t["q"]), pos = struct.unpack_from(">IH", data, pos), pos + 6
            _require(t["mu"] < 2 ** b and t["q"] >= 1, f"{name}: invalid Laplace parameters")
        table.append(t)
    return table, pos


def _check_range(t):
    """Section 3: lo, hi finite, hi >= lo, abs <= 2^32 (every version)."""
    lo, hi = t["lo"], t["hi"]
    _require(np.isfinite(lo) and np.isfinite(hi) and hi >= lo
             and abs(lo) <= LIMIT and abs(hi) <= LIMIT, f"{t['name']}: invalid range")


def _read_bits(buf, counts_bits):
    """Section 4: consecutive MSB-first unsigned integers of the given bit depths, followed
    by padding bits that must all be zero."""
    bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8))
    out, pos = [], 0
    for count, b in counts_bits:
        chunk = bits[pos:pos + count * b].reshape(count, b).astype(np.uint64)
        out.append(chunk @ (np.uint64(1) << np.arange(b - 1, -1, -1, dtype=np.uint64)))
        pos += count * b
    _require(not bits[pos:].any(), "raw weights: non-zero padding bits")
    return out


def _laplace_freqs(b, mu, q):
    """Section 5: the integer Laplace frequencies f(k), summing to 2^16."""
    n, total = 2 ** b, 2 ** 16
    w, ws = 2 ** 30, []
    for _ in range(n):
        ws.append(w)
        w = (w * q) >> 16
    weight = [ws[abs(k - mu)] for k in range(n)]
    wsum = sum(weight)
    f = [1 + (wk * (total - n)) // wsum for wk in weight]
    f[mu] += total - sum(f)
    return f


def _rans_decode(stream, tensors):
    """Section 5: decode the model-2 tensors from one byte-wise rANS stream."""
    _require(len(stream) >= 4, "rANS stream too short")
    x, pos, out = int.from_bytes(stream[:4], "little"), 4, []
    _require(2 ** 23 <= x < 2 ** 31, "rANS stream: initial state outside [2^23, 2^31)")
    for t in tensors:
        f = _laplace_freqs(t["bits"], t["mu"], t["q"])
        s = np.concatenate([[0], np.cumsum(f)])
        sym = np.repeat(np.arange(len(f)), f)  # slot -> symbol
        vals = np.empty(t["size"], dtype=np.uint64)
        for i in range(t["size"]):
            slot = x & 0xFFFF
            k = int(sym[slot])
            x = f[k] * (x >> 16) + slot - int(s[k])  # < 2^31, as f[k] < 2^16 (n >= 4)
            while x < 2 ** 23:
                _require(pos < len(stream), "rANS stream runs out")
                x = (x << 8) | stream[pos]
                pos += 1
            vals[i] = k
        out.append(vals)
    _require(x == 2 ** 23 and pos == len(stream), "rANS stream does not end cleanly")
    return out


def _dequantize(t, n):
    """Section 3: float32(lo + n * ((hi - lo) / (2^b - 1))), promoted back to float64."""
    lo, step = float(t["lo"]), (float(t["hi"]) - float(t["lo"])) / (2.0 ** t["bits"] - 1)
    return (lo + n.astype(np.float64) * step).astype(np.float32).astype(np.float64)


def read_weights(data):
    """Sections 1-5 and 8 (steps 1-7): return (header, {tensor name: float64 weights})."""
    data = bytes(data)
    version, h = _parse_header(data)
    table, pos = _parse_table(data, version, h)
    raw = [t for t in table if t["model"] == 0]
    coded = [t for t in table if t["model"] != 0]
    end = pos + (sum(t["bits"] * t["size"] for t in raw) + 7) // 8
    coded_len = 0
    if coded:
        _require(len(data) >= end + 4, f"truncated file: header implies more than {len(data)} bytes")
        count = struct.unpack_from(">I", data, end)[0]
        coded_len = 4 + count * (4 if version == 2 else 1)
    need = end + coded_len + 4
    _require(len(data) >= need, f"truncated file: header implies {need} bytes, got {len(data)}")
    _require(len(data) == need, f"{len(data) - need} trailing bytes")
    _require(zlib.crc32(data[:-4]) == struct.unpack(">I", data[-4:])[0],
             "CRC mismatch: the file is corrupt")
    # Step 7: the header's bit depth, the zero padding, the coded stream, every range.
    _require(max(t["bits"] for t in table) == h["bits"], "header bit depth is not the largest")
    ints = dict(zip([t["name"] for t in raw],
                    _read_bits(data[pos:end], [(t["size"], t["bits"]) for t in raw])))
    if any(t["model"] == 1 for t in coded):
        raise FormatError("version 2 entropy model 1 (quantized Gaussian) needs constriction; "
                          "the numpy reference decoder does not decode it")
    if coded:
        ints.update(zip([t["name"] for t in coded], _rans_decode(data[end + 4:need - 4], coded)))
    for t in table:
        _check_range(t)
    return h, {t["name"]: _dequantize(t, ints[t["name"]]) for t in table}


def _perm(m, r, seed):
    """Section 6.4: SplitMix64-driven Fisher-Yates shuffle of 0..M-1 (identity for r = 0)."""
    perm, mask = list(range(m)), 2 ** 64 - 1
    if r == 0:
        return perm
    state = ((seed & 0xFFFFFFFF) << 32) ^ (r & 0xFFFFFFFF) ^ 0x5157494E52
    for i in range(m - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = (z ^ (z >> 31)) % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def _rx(psi, q, t):
    """Section 6.3: RX(t) on qubit q (wire 0 most significant); t scalar or one per row."""
    v = psi.reshape(psi.shape[0], 2 ** q, 2, -1)
    t = np.reshape(t, (-1, 1, 1))
    c, s = np.cos(t / 2), -1j * np.sin(t / 2)
    a0, a1 = v[:, :, 0, :], v[:, :, 1, :]
    return np.stack([c * a0 + s * a1, s * a0 + c * a1], axis=2).reshape(psi.shape)


def _rz(psi, q, t):
    """Section 6.3: RZ(t) on qubit q."""
    v = psi.reshape(psi.shape[0], 2 ** q, 2, -1).copy()
    t = np.reshape(t, (-1, 1))
    v[:, :, 0, :] *= np.exp(-0.5j * t)[:, :, None]
    v[:, :, 1, :] *= np.exp(0.5j * t)[:, :, None]
    return v.reshape(psi.shape)


def _crz(psi, c, j, t):
    """Section 6.3: CRZ(t), control c < target j: RZ(t) on j where qubit c is 1."""
    v = psi.reshape(psi.shape[0], 2 ** c, 2, 2 ** (j - c - 1), 2, -1).copy()
    v[:, :, 1, :, 0, :] *= np.exp(-0.5j * t)
    v[:, :, 1, :, 1, :] *= np.exp(0.5j * t)
    return v.reshape(psi.shape)


def _block_probs(h, hid, theta, perms):
    """Sections 6.3 and 6.4: basis-state probabilities of one block for a batch of h vectors."""
    pairs = h["pairs"]
    nq, m, big_c = h["nq"], hid.shape[1], len(pairs)
    p_len = 4 * nq + big_c
    psi = np.zeros((hid.shape[0], 2 ** nq), dtype=np.complex128)
    psi[:, 0] = 1.0
    for r in range(h["r"]):
        for mm in range(m):
            gate = _rx if (mm // nq) % 2 == 0 else _rz
            psi = gate(psi, mm % nq, h["angle_scale"] * hid[:, perms[r][mm]])
        for e in range(h["e"]):
            th = theta[(r * h["e"] + e) * p_len:][:p_len]
            for q in range(nq):
                psi = _rz(psi, q, th[q])
            for q in range(nq):
                psi = _rx(psi, q, th[nq + q])
            for k, (i, j) in enumerate(pairs):
                psi = _crz(psi, i, j, th[2 * nq + k])
            for q in range(nq):
                psi = _rz(psi, q, th[2 * nq + big_c + q])
            for q in range(nq):
                psi = _rx(psi, q, th[3 * nq + big_c + q])
    return psi.real ** 2 + psi.imag ** 2


def _lin(n):
    """Section 6.1: lin(n), with lin(n)[n-1] = 1 exactly and lin(1) = [0]."""
    if n == 1:
        return np.zeros(1)
    return np.append(-1.0 + np.arange(n - 1) * (2.0 / (n - 1)), 1.0)


def decode_unit(data):
    """Sections 6.1-6.2: the header and the clipped outputs y in [0, 1], shape (coords, N_out)."""
    h, wts = read_weights(data)
    if h["in_features"] == 2:
        rows, cols = np.meshgrid(_lin(h["height"]), _lin(h["width"]), indexing="ij")
        coords = np.stack([rows.ravel(), cols.ravel()], axis=1)
    else:
        coords = _lin(h["width"])[:, None]
    nq, n_out = h["nq"], h["channels"]
    perms = [[_perm(m, r, h["seed"]) for r in range(h["r"])] for m in h["ms"]]
    signs = 1.0 - 2.0 * ((np.arange(2 ** nq)[:, None] >> (nq - 1 - np.arange(nq))) & 1)
    batch = max(1, 2 ** 20 // 2 ** nq)
    ys = []
    for start in range(0, len(coords), batch):
        x, z_prev = coords[start:start + batch], 0.0
        for k in range(h["blocks"]):  # section 6.2, the next block's input by the link (2.3)
            w = wts[f"blocks.{k}.weight"].reshape(h["ms"][k], -1)
            hid = np.sin(h["w0"] * (x @ w.T) + wts[f"blocks.{k}.bias"])
            p = _block_probs(h, hid, wts[f"blocks.{k}.theta"], perms[k])
            z = p @ signs
            x = (z, z + z_prev, 2 ** nq * p - 1.0)[h["link"]]
            z_prev = z
        v = p[:, 2 ** nq - n_out:] if h["output_map"] == 1 else z[:, :n_out]
        u = wts["scale"] * v + wts["offset"]
        ys.append(np.clip(np.where(u > 0, u, -1.99 * u), 0.0, 1.0))
    y = np.concatenate(ys)
    _require(np.all(np.isfinite(y)), "decoded output is not finite")
    return h, y


def _to_samples(h, y):
    """Section 6.2: y in [0, 1] to stored samples, shape (H, W, C) or (N, C)."""
    if h["kind"] == 0:
        out = np.rint(255.0 * y).astype(np.uint8)
    elif h["kind"] == 1:
        out = np.rint(65535.0 * y).astype(np.uint16)
    else:
        vmin, vmax = float(h["vmin"]), float(h["vmax"])
        with np.errstate(over="ignore"):
            out = (vmin + y * (vmax - vmin)).astype(np.float32)
        _require(np.all(np.isfinite(out)), "decoded output is not finite")
    shape = (h["height"], h["width"]) if h["in_features"] == 2 else (h["width"],)
    return out.reshape(shape + (h["channels"],))


def decode(data: bytes) -> np.ndarray:
    """Decode a .qinr file to its samples in their native dtype (section 6.2)."""
    return _to_samples(*decode_unit(data))


def _check(path, expected):
    """Section 7's tolerance; returns (ok, max abs difference)."""
    h, y = decode_unit(path.read_bytes())
    got = _to_samples(h, y)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return False, float("inf")
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    if h["kind"] == 2:
        tol = 1e-9 * (float(h["vmax"]) - float(h["vmin"])) + np.abs(np.spacing(expected))
        return bool(np.all(diff <= tol)), float(diff.max())
    full = 255.0 if h["kind"] == 0 else 65535.0
    y = y.reshape(got.shape)  # this decoder's own y; its nearest boundary is (k + 1/2) / full
    near = np.abs(y - (np.floor(full * y) + 0.5) / full) <= 1e-9
    return bool(np.all((diff == 0) | ((diff <= 1) & near))), float(diff.max())


if __name__ == "__main__":
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "tests" / "conformance"
    failures = 0
    for entry in json.loads((root / "index.json").read_text()):
        path = root / entry["file"]
        if not entry.get("reference", True):
            try:
                decode(path.read_bytes())
                ok, msg = False, "decoded, but should be refused"
            except FormatError as exc:
                ok, msg = True, f"refused: {exc}"
        else:
            ok, dmax = _check(path, np.load(root / entry["expected"]))
            msg = f"max |diff| = {dmax:.3g}"
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {entry['file']}: {msg}")
    print(f"{'all passed' if not failures else f'{failures} failed'}")
    raise SystemExit(1 if failures else 0)
