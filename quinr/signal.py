"""Signals in and out: images and float arrays, their coordinates, values and PSNR.

A :class:`Signal` keeps the samples in their native type (uint8, uint16 or float32) together with
the value range used to normalise them to [0, 1] for training: 8-bit /255, 16-bit /65535, float
signals by their stored range [vmin, vmax]. Coordinates are normalised per axis to [-1, 1].
"""

from __future__ import annotations

import contextlib
import enum
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SignalError
from .grid import coordinates
from .grid import describe as describe_grid

__all__ = ["MAX_PIXELS", "Signal", "SignalKind", "coordinates", "load_signal", "psnr", "save_signal"]

#: Largest signal quinr accepts (pixels); also the bound a bitstream header is checked against.
MAX_PIXELS = 1 << 26
MAX_SIDE = 65535
MAX_CHANNELS = 16


class SignalKind(enum.IntEnum):
    """Sample type of a signal. The values are bitstream ids: never reuse or renumber them."""

    U8 = 0
    U16 = 1
    F32 = 2


_DTYPES = {SignalKind.U8: np.uint8, SignalKind.U16: np.uint16, SignalKind.F32: np.float32}


def peak_value(kind: SignalKind, vmin: float, vmax: float) -> float:
    """The MAX of PSNR: 255, 65535, or for float signals the largest value (the paper's MAX)."""
    if kind is SignalKind.U8:
        return 255.0
    if kind is SignalKind.U16:
        return 65535.0
    if vmin >= 0:
        return vmax if vmax > 0 else 1.0
    return max(-vmin, abs(vmax))


@dataclass(frozen=True)
class Signal:
    """A signal on a coordinate grid, in its native sample type: ``data`` is ``(*grid, C)``, an
    image ``(H, W, C)`` or a one-dimensional signal ``(N, C)`` (see :mod:`quinr.grid`)."""

    data: np.ndarray
    kind: SignalKind
    vmin: float
    vmax: float

    def __post_init__(self) -> None:
        if self.data.ndim not in (2, 3):
            raise SignalError(f"signal must have shape (H, W, C) or (N, C), got {self.data.shape}")
        if self.data.dtype != _DTYPES[self.kind]:
            raise SignalError(f"{self.kind.name} signal must be {_DTYPES[self.kind].__name__}, got {self.data.dtype}")
        c = self.data.shape[-1]
        if not (all(1 <= n <= MAX_SIDE for n in self.grid) and 1 <= c <= MAX_CHANNELS and self.pixels <= MAX_PIXELS):
            raise SignalError(f"signal shape {self.data.shape} is outside the supported range")
        if not (math.isfinite(self.vmin) and math.isfinite(self.vmax) and self.vmax >= self.vmin):
            raise SignalError(f"invalid value range [{self.vmin}, {self.vmax}]")

    @property
    def shape(self) -> tuple[int, ...]:
        """``(H, W, C)`` or ``(N, C)``."""
        return tuple(self.data.shape)

    @property
    def grid(self) -> tuple[int, ...]:
        """The coordinate grid: ``(H, W)`` or ``(N,)``."""
        return tuple(self.data.shape[:-1])

    @property
    def channels(self) -> int:
        return self.data.shape[-1]

    @property
    def pixels(self) -> int:
        """Samples on the grid (pixels of an image)."""
        return math.prod(self.grid)

    def describe(self) -> str:
        """``HxWxC kind (HxWxC)`` for an image, ``NxC kind (1-D)`` for a one-dimensional signal."""
        return describe_shape(self.grid, self.channels, self.kind)

    @property
    def peak(self) -> float:
        """The MAX of PSNR (see :func:`peak_value`)."""
        return peak_value(self.kind, self.vmin, self.vmax)

    def normalized(self) -> np.ndarray:
        """float32 (H, W, C) in [0, 1]."""
        span = self.vmax - self.vmin
        if span == 0:
            return np.zeros(self.data.shape, np.float32)
        return ((self.data.astype(np.float64) - self.vmin) / span).astype(np.float32)

    @classmethod
    def from_normalized(cls, values: np.ndarray, kind: SignalKind, vmin: float, vmax: float) -> Signal:
        """Map [0, 1] values back to the native type (rounded and clipped for integer kinds)."""
        v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
        if kind is SignalKind.F32:
            data = (vmin + v * (vmax - vmin)).astype(np.float32)
        else:
            top = 255.0 if kind is SignalKind.U8 else 65535.0
            data = np.rint(v * top).astype(_DTYPES[kind])
        return cls(data, kind, vmin, vmax)


#: Default largest signal a command loads or decodes (pixels); ``--max-pixels`` raises it up to
#: :data:`MAX_PIXELS`. Checked from the file's header, before any pixel is decoded.
DEFAULT_MAX_PIXELS = 1 << 24


def describe_shape(grid: tuple[int, ...], channels: int, kind: SignalKind) -> str:
    """How every command prints a signal's shape: rows first, and says so."""
    order = " (1-D)" if len(grid) == 1 else " (HxWxC)"
    return f"{describe_grid(grid)}x{channels} {kind.name.lower()}{order}"


def check_pixels(shape: tuple[int, ...], max_pixels: int | None, name: str) -> None:
    """Refuse a signal whose grid ``shape`` (rows first) has more than ``max_pixels`` samples
    (default :data:`DEFAULT_MAX_PIXELS`)."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PIXELS:
        raise SignalError(f"the pixel limit must be an integer in [1, {MAX_PIXELS}], got {limit!r}")
    total = math.prod(shape)
    if total > limit:
        raise SignalError(f"{name}: {'x'.join(map(str, shape))} = {total} pixels is over the limit of {limit} "
                          "(raise it with --max-pixels)")


def load_signal(path: str | Path, *, max_pixels: int | None = None, frame: int | None = None) -> Signal:
    """Read an 8-bit grey/RGB image (PNG, JPEG, ...), a 16-bit grey or RGB PNG, or a float ``.npy``
    (H, W[, C]).

    The size is read from the file's header and checked against ``max_pixels`` before any pixel
    is decoded. A multi-frame image (animated GIF, multi-page TIFF) is refused unless ``frame``
    chooses one. 16-bit colour PNGs are read at 16 bits (Pillow would silently keep 8).
    """
    p = Path(path)
    if not p.is_file():
        raise SignalError(f"{p}: no such file" if not p.exists() else f"{p}: not a regular file")
    if p.suffix.lower() == ".npy":
        return _load_npy(p, max_pixels)
    from PIL import Image, UnidentifiedImageError

    try:
        with _opened(p) as im:
            w, h = im.size
            check_pixels((h, w), max_pixels, str(p))
            im = _choose_frame(im, frame, str(p))
            depth, colour = _png_depth(p) if im.format == "PNG" else (None, None)
            if depth == 16 and colour in (2, 6):
                return _load_png16_colour(p, colour)
            if _truncated_colour(im):
                raise SignalError(f"{p}: a colour image with more than 8 bits per channel, which Pillow would cut to 8 "
                                  "bits; quinr reads 16-bit colour from PNG: convert it to a 16-bit PNG")
            im.load()
            return signal_from_image(im, str(p))
    except PermissionError as exc:
        raise SignalError(f"{p}: {exc.strerror}") from None
    except Image.DecompressionBombError:
        raise SignalError(f"{p}: the image is larger than Pillow's safety limit") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise SignalError(f"{p}: not an image quinr can read ({exc})") from None


@contextlib.contextmanager
def _opened(p: Path):
    """``Image.open`` reads only the header; quinr's own pixel limit (stricter than Pillow's) is
    checked next, so Pillow's decompression-bomb check is off while the header is read, to get
    the image's size into quinr's message."""
    from PIL import Image

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        im = Image.open(p)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    with im:
        yield im


def _choose_frame(im, frame: int | None, name: str):
    frames = getattr(im, "n_frames", 1)
    if frame is None:
        if frames > 1:
            raise SignalError(f"{name}: has {frames} frames; choose one with --frame K (0..{frames - 1})")
        return im
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < frames:
        raise SignalError(f"{name}: frame {frame!r} does not exist (the image has {frames}: 0..{frames - 1})")
    im.seek(frame)
    return im


def _truncated_colour(im) -> bool:
    """Whether Pillow would silently read this colour image at 8 bits although it holds more
    (16-bit RGB TIFF or PPM: Pillow has no 16-bit RGB mode)."""
    if im.mode != "RGB":
        return False
    for tile in getattr(im, "tile", None) or []:
        args = tile.args if isinstance(tile.args, tuple) else (tile.args,)
        if any(isinstance(a, str) and ";16" in a for a in args):
            return True
        if tile.codec_name == "ppm" and any(isinstance(a, int) and a > 255 for a in args):
            return True
    bits = getattr(im, "tag_v2", {}).get(258) if hasattr(im, "tag_v2") else None
    return bool(bits) and max(bits if isinstance(bits, tuple) else (bits,)) > 8


def _png_depth(p: Path) -> tuple[int | None, int | None]:
    """(bit depth, colour type) from a PNG's IHDR chunk."""
    with p.open("rb") as f:
        head = f.read(29)
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None, None
    return head[24], head[25]


def _load_png16_colour(p: Path, colour: int) -> Signal:
    """A 16-bit RGB PNG at 16 bits, through pypng (Pillow has no 16-bit RGB mode)."""
    if colour == 6:
        raise SignalError(f"{p}: images with transparency are not supported; flatten it first")
    import png

    try:
        width, height, rows, info = png.Reader(filename=str(p)).asDirect()
        arr = np.vstack([np.asarray(r, np.uint16) for r in rows])
    except (png.Error, OSError, ValueError) as exc:
        raise SignalError(f"{p}: not a PNG quinr can read ({exc})") from None
    planes = info["planes"]
    if planes != 3 or arr.shape != (height, width * planes):
        raise SignalError(f"{p}: unexpected 16-bit PNG layout ({planes} planes)")
    return Signal(np.ascontiguousarray(arr.reshape(height, width, 3)), SignalKind.U16, 0.0, 65535.0)


def signal_from_image(im: object, name: str = "image") -> Signal:
    """Convert a PIL image to a Signal (palette/1-bit images become RGB/grey)."""
    from PIL import Image

    assert isinstance(im, Image.Image)
    mode = im.mode
    if mode in ("P", "PA"):
        if "transparency" in im.info or mode == "PA":
            raise SignalError(f"{name}: images with transparency are not supported; flatten it first")
        im, mode = im.convert("RGB"), "RGB"
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode in ("L", "RGB"):
        arr = np.asarray(im, dtype=np.uint8)
        arr = arr[..., None] if arr.ndim == 2 else arr
        return Signal(np.ascontiguousarray(arr), SignalKind.U8, 0.0, 255.0)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise SignalError(f"{name}: 32-bit integer image with values outside 0..65535")
        return Signal(np.ascontiguousarray(arr.astype(np.uint16)[..., None]), SignalKind.U16, 0.0, 65535.0)
    raise SignalError(f"{name}: image mode {mode!r} is not supported (use 8-bit grey/RGB or 16-bit grey/RGB)")


def _load_npy(p: Path, max_pixels: int | None) -> Signal:
    try:
        head = np.load(p, mmap_mode="r", allow_pickle=False)  # the header only: shape and type
        if head.ndim in (1, 2, 3):
            check_pixels(tuple(head.shape[:2]), max_pixels, str(p))
        arr = np.load(p, allow_pickle=False)
    except PermissionError as exc:
        raise SignalError(f"{p}: {exc.strerror}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise SignalError(f"{p}: not a readable .npy array ({exc})") from None
    if arr.ndim in (1, 2):  # (N,): a one-dimensional signal; (H, W): a grey image
        arr = arr[..., None]
    if arr.ndim not in (2, 3) or arr.dtype.kind not in "fiu":
        raise SignalError(f"{p}: expected a numeric (N,), (H, W) or (H, W, C) array, got {arr.dtype} {arr.shape}")
    if arr.size == 0:
        raise SignalError(f"{p}: the array is empty (shape {arr.shape})")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise SignalError(f"{p}: array contains NaN or infinite values (or values beyond float32)")
    return Signal(np.ascontiguousarray(arr), SignalKind.F32, float(arr.min()), float(arr.max()))


def output_suffixes(kind: SignalKind, channels: int, dims: int = 2) -> tuple[str, ...]:
    """File extensions :func:`save_signal` writes a signal of this kind, channel count and grid
    dimension to (a one-dimensional signal, or a float one, is an array)."""
    if dims != 2:
        return (".npy",)
    if kind is SignalKind.F32:  # a PNG of a float signal is an 8-bit preview (see save_signal)
        return (".npy", ".png") if channels in (1, 3) else (".npy",)
    if kind is SignalKind.U16:
        return (".png",) if channels in (1, 3) else ()
    return (".png", ".tif", ".tiff", ".bmp") if channels in (1, 3) else ()


def save_signal(signal: Signal, path: str | Path) -> Path:
    """Write a signal atomically: PNG (8/16-bit grey or RGB; TIFF/BMP for 8 bits) for integer kinds,
    ``.npy`` for float signals. A float image written as ``.png`` is an 8-bit preview: its value
    range ``[vmin, vmax]`` mapped linearly to 0..255 (lossy; the ``.npy`` keeps the values)."""
    from .files import atomic_path

    p = Path(path)
    c = signal.channels
    allowed = output_suffixes(signal.kind, c, len(signal.grid))
    if p.suffix.lower() not in allowed:
        what = f"{c}-channel {signal.kind.name.lower()}"
        raise SignalError(f"{p}: a {what} signal is written as {' or '.join(allowed)}" if allowed
                          else f"{p}: a {what} signal has no image format; decode to a float .npy instead")
    data = signal.data
    if signal.kind is SignalKind.F32 and p.suffix.lower() == ".png":
        data = np.rint(255.0 * signal.normalized()).astype(np.uint8)
    with atomic_path(p) as tmp:
        if p.suffix.lower() == ".npy":
            with tmp.open("wb") as f:
                np.save(f, data[..., 0] if c == 1 else data)
        elif signal.kind is SignalKind.U16 and c == 3:
            import png

            h, w, _ = data.shape
            with tmp.open("wb") as f:
                png.Writer(w, h, greyscale=False, bitdepth=16).write(f, data.reshape(h, w * 3).tolist())
        else:
            from PIL import Image

            im = Image.fromarray(data[..., 0]) if c == 1 else Image.fromarray(data)
            try:
                im.save(tmp, format={".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}[p.suffix.lower()])
            except (KeyError, ValueError) as exc:
                raise SignalError(f"{p}: cannot write image ({exc})") from None
    return p


def mse(reference: Signal, test: Signal) -> float:
    if reference.shape != test.shape:
        raise SignalError(f"shapes differ: {reference.shape} vs {test.shape}")
    diff = reference.data.astype(np.float64) - test.data.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(reference: Signal, test: Signal, peak: float | None = None) -> float:
    """PSNR in dB over all samples, MAX = ``peak`` or the reference's :attr:`Signal.peak`."""
    err = mse(reference, test)
    top = reference.peak if peak is None else peak
    return math.inf if err == 0 else 10.0 * math.log10(top * top / err)
