"""Property-based tests (hypothesis): `encode` and the loaders on generated inputs."""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from drlkit.data import DataError, _read_idx
from drlkit.preprocess import ImageReadError, load_image, to_model_input

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
MODEL = tiny_model()  # 1 channel, 16x16, 8-d codes
MODEL_RGB = tiny_model(channels=3)


@st.composite
def uint8_batches(draw):
    n = draw(st.integers(1, 9))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    # (N, H, W) with W <= 4 would read as one (H, W, C) image, and N = 3 or 4 is refused as
    # ambiguous for an RGB model: the documented rules for 3-D arrays (drlkit.layouts)
    grey_n = n if n not in (3, 4) else n + 2
    shape = draw(st.sampled_from([(grey_n, h, max(w, 5)), (n, h, w, 1), (n, h, w, 3),
                                  (n, h, w, 4)]))
    return draw(arrays(np.uint8, shape))


@SETTINGS
@given(images=uint8_batches(), t=st.floats(0, 1), model=st.sampled_from([MODEL, MODEL_RGB]))
def test_encode_shape_dtype_and_finiteness(images, t, model):
    z = model.encode(images, t=t)
    assert z.shape == (len(images), model.config.latent_dim)
    assert z.dtype == np.float32 and np.isfinite(z).all()


@SETTINGS
@given(images=uint8_batches(), batch_size=st.integers(1, 10))
def test_encode_is_batch_size_invariant_and_row_independent(images, batch_size):
    full = MODEL.encode(images, t=0.4, batch_size=len(images))
    np.testing.assert_allclose(MODEL.encode(images, t=0.4, batch_size=batch_size), full, atol=1e-5)
    np.testing.assert_allclose(MODEL.encode(images[-1:], t=0.4), full[-1:], atol=1e-5)


@SETTINGS
@given(images=uint8_batches(), ts=st.lists(st.floats(0, 1), min_size=1, max_size=4))
def test_encode_t_sequence_stacks_single_t_codes(images, ts):
    z = MODEL.encode(images, t=ts)
    assert z.shape == (len(images), len(ts), 8)
    np.testing.assert_allclose(z[:, -1], MODEL.encode(images, t=ts[-1]), atol=1e-5)


@SETTINGS
@given(images=uint8_batches(), channels=st.sampled_from([1, 3]), size=st.integers(4, 24))
def test_model_input_is_always_in_range_at_the_model_size(images, channels, size):
    x = to_model_input(images, channels, size)
    assert tuple(x.shape) == (len(images), channels, size, size)
    assert float(x.min()) >= 0 and float(x.max()) <= 1


@st.composite
def pil_images(draw):
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "LA", "I;16", "1", "P"]))
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    if mode == "I;16":
        return Image.fromarray(draw(arrays(np.uint16, (h, w))))
    base = Image.fromarray(draw(arrays(np.uint8, (h, w, 3))))
    return base.convert(mode)


@SETTINGS
@given(img=pil_images(), fmt=st.sampled_from(["PNG", "TIFF", "BMP", "WEBP"]))
def test_load_image_round_trips_every_mode_and_format(img, fmt):
    if fmt in ("BMP", "WEBP") and img.mode in ("I;16", "LA"):
        img = img.convert("RGBA" if img.mode == "LA" else "L")
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x.{fmt.lower()}"
        path.write_bytes(buf.getvalue())
        arr = load_image(path)
    assert arr.dtype == np.uint8 and arr.shape[:2] == (img.height, img.width)
    assert arr.ndim == 2 or arr.shape[2] == 3
    if img.mode in ("L", "RGB") and fmt != "WEBP":  # lossless and 8-bit: the pixels come back
        np.testing.assert_array_equal(arr, np.asarray(img))


@SETTINGS
@given(data=st.binary(max_size=2048), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n",
                                                              b"\xff\xd8\xff", b"GIF89a", b"BM"]))
def test_load_image_on_arbitrary_bytes_returns_pixels_or_a_reason(data, prefix):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.png"
        path.write_bytes(prefix + data)
        try:
            arr = load_image(path)
        except ImageReadError as e:
            assert e.reason and "x.png" in str(e)
        else:
            assert arr.dtype == np.uint8


@SETTINGS
@given(arr=arrays(np.uint8, st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(1, 6))))
def test_idx_reader_round_trips(arr):
    raw = b"\x00\x00\x08" + bytes([arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x-idx3-ubyte.gz"
        path.write_bytes(gzip.compress(raw))
        np.testing.assert_array_equal(_read_idx(path), arr)


@SETTINGS
@given(data=st.binary(max_size=512), compress=st.booleans())
def test_idx_reader_on_arbitrary_bytes_raises_only_data_error(data, compress):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.gz"
        path.write_bytes(gzip.compress(data) if compress else data)
        try:
            _read_idx(path)
        except DataError as e:
            assert "x.gz" in str(e)


@pytest.mark.parametrize("bad", [b"\x1f\x8b\x08\x00garbage", b""])
def test_idx_reader_corrupt_gzip_is_a_data_error(tmp_path, bad):
    path = tmp_path / "x.gz"
    path.write_bytes(bad)
    with pytest.raises(DataError, match="x.gz"):
        _read_idx(path)
