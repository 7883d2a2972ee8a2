"""The one array-layout rule (drlkit.layouts): a test per row of docs/api.md's table, through
`encode` and `DRLTransformer`, the refusals included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_model

from drlkit.layouts import layout
from drlkit.transformer import DRLTransformer


@pytest.fixture(scope="module")
def grey():
    return tiny_model()  # 16 x 16 grey


@pytest.fixture(scope="module")
def rgb():
    return tiny_model(channels=3)


def imgs(n=5, c=None, seed=0):
    shape = (n, 16, 16) if c is None else (n, 16, 16, c)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_flattened_uint8_rows_are_images(grey, rgb):
    """sklearn's layout, (N, H*W[*C]) as in mnist_784: N rows, not one (N, H*W) image."""
    x = imgs(5)
    z = grey.encode(x)
    np.testing.assert_array_equal(grey.encode(x.reshape(5, -1)), z)
    assert grey.encode(x.reshape(5, -1)).shape == (5, 8)
    c = imgs(4, 3)
    np.testing.assert_array_equal(rgb.encode(c.reshape(4, -1)), rgb.encode(c))  # HWC order
    np.testing.assert_array_equal(rgb.encode(x.reshape(5, -1)), rgb.encode(x))  # grey rows
    # the transformer reads them the same way
    tr = DRLTransformer(model=grey).fit(x.reshape(5, -1))
    np.testing.assert_array_equal(tr.transform(x.reshape(5, -1)), z)


def test_float_rows_are_images_too(grey):
    x = imgs(3)
    np.testing.assert_allclose(grey.encode(x.reshape(3, -1).astype(np.float32) / 255),
                               grey.encode(x), atol=1e-6)


def test_rows_of_another_size_are_refused_with_the_fix(grey):
    digits = np.zeros((1797, 64), np.uint8)  # load_digits().data: 8 x 8 images
    with pytest.raises(ValueError, match=r"1797 flattened 8x8 images, or one 1797x64 grey image\? "
                                         r"pass x.reshape\(1797, 8, 8\)"):
        grey.encode(digits)
    with pytest.raises(ValueError, match=r"image_shape=\(H, W\[, C\]\)"):
        DRLTransformer(model=grey).fit(digits)
    tr = DRLTransformer(model=grey, image_shape=(8, 8)).fit(digits[:4])
    assert tr.transform(digits[:4]).shape == (4, 8)


def test_one_grey_image_is_one_row(grey):
    x = imgs(1)[0]
    assert grey.encode(x).shape == (1, 8)
    wide = np.zeros((20, 30), np.uint8)  # 30 is no square: one image
    assert grey.encode(wide).shape == (1, 8)
    np.testing.assert_array_equal(grey.encode(imgs(1)[0][None]), grey.encode(x))


def test_one_hwc_image_and_nhw_and_nhwc_batches(grey, rgb):
    c = imgs(3, 3)
    assert rgb.encode(c[0]).shape == (1, 8)
    np.testing.assert_array_equal(rgb.encode(c[0]), rgb.encode(c[:1]))
    assert grey.encode(imgs(6)).shape == (6, 8)  # (N, H, W)
    assert grey.encode(imgs(3, 1)).shape == (3, 8)  # (N, H, W, 1)


def test_channels_first_uint8(grey, rgb):
    c = imgs(4, 3)
    # (N, C, H, W) uint8: one reading (the last axis holds no channels), accepted
    np.testing.assert_array_equal(rgb.encode(c.transpose(0, 3, 1, 2)), rgb.encode(c))
    # one (3, H, W) image: 3 grey images, or one RGB image? refused for an RGB model
    with pytest.raises(ValueError, match=r"ambiguous: one channels-first image, or 3 grey images\? "
                                         r"pass x.transpose\(1, 2, 0\)"):
        rgb.encode(c[0].transpose(2, 0, 1))
    # for a grey model a (3, H, W) array is 3 grey images, as every (N, H, W) batch
    assert grey.encode(imgs(3)).shape == (3, 8)


def test_float_layouts(grey, rgb):
    x = torch.rand(2, 3, 16, 16)
    assert rgb.encode(x).shape == (2, 8)  # (N, C, H, W)
    np.testing.assert_array_equal(rgb.encode(x[0]), rgb.encode(x[:1]))  # (C, H, W)
    with pytest.raises(ValueError, match=r"permute\(0, 3, 1, 2\)"):
        rgb.encode(x.permute(0, 2, 3, 1))
    with pytest.raises(ValueError, match=r"permute\(2, 0, 1\)"):
        rgb.encode(x[0].permute(1, 2, 0))
    with pytest.raises(ValueError, match=r"for 7 grey images pass x\[:, None\]"):
        grey.encode(torch.rand(7, 16, 16))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        grey.encode(torch.rand(16, 20))


@pytest.mark.parametrize("shape, match", [
    ((784,), r"1-D array of 784 values"),
    ((2, 2, 16, 16, 3), "expected 2 to 4 dimensions"),
    ((2, 7, 16, 9), "no axis of 1 to 4 channels"),
])
def test_shapes_without_a_reading_are_refused_in_one_line(grey, shape, match):
    with pytest.raises(ValueError, match=match) as e:
        grey.encode(np.zeros(shape, np.uint8))
    assert "\n" not in str(e.value)


def test_every_layout_has_one_reading():
    """The table of docs/api.md, row by row (channels-last = numpy uint8)."""
    rows = [((28, 28), True, "hw"), ((5, 784), True, "rows"), ((28, 28, 3), True, "hwc"),
            ((5, 28, 28), True, "nhw"), ((5, 28, 28, 3), True, "nhwc"), ((5, 3, 28, 28), True, "nchw"),
            ((3, 28, 28), False, "chw"), ((5, 3, 28, 28), False, "nchw"), ((5, 784), False, "rows")]
    for shape, channels_last, kind in rows:
        assert layout(shape, channels_last, channels=1, size=28)[0] == kind, shape
    assert layout((5, 28, 28), True, 1, 28, batched=True)[0] == "nhw"
    assert layout((5, 28, 28, 3), True, 1, 28, batched=True)[0] == "nhwc"
