"""Convolutional layers as the affine maps they are: ``y = W x + b`` on flattened (C, H, W) tensors.

A convolution, an average pool, a batch normalisation or a transpose is linear in its input,
so the network chain (:mod:`qcqp.frontends.loaders`) composes it like a dense layer. ``W`` is
assembled sparse (one entry per kernel tap that lands inside the padded input) and stays
sparse in the network when at most a quarter of its entries are nonzero, so memory grows as
``out × taps`` per layer (docs/certify.md, "Convolutional networks").

Max pooling is not affine: :func:`maxpool_layers` compiles it exactly into ReLU layers
(``max(a, b) = relu(a − b) + relu(b) − relu(−b)``, pairwise), so every backend encodes it
with the ReLU machinery it already has (exact for ``exact``, relaxed for the others).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from qcqp import InputError

Shape = tuple[int, int, int]  # (channels, height, width)


def _output_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def _taps(shape: Shape, kernel: tuple[int, int], strides, pads, dilations):
    """Index arrays of every (output position, kernel tap) whose input lies inside the image:
    ``(oh, ow, kh, kw, ih, iw)`` and the output height and width."""
    _, H, W = shape
    out_h = _output_size(H, kernel[0], strides[0], pads[0], pads[2], dilations[0])
    out_w = _output_size(W, kernel[1], strides[1], pads[1], pads[3], dilations[1])
    if out_h < 1 or out_w < 1:
        raise InputError(f"kernel {kernel} with strides {strides} and pads {pads} leaves no output on {H}x{W}")
    oh, ow, kh, kw = np.meshgrid(np.arange(out_h), np.arange(out_w), np.arange(kernel[0]), np.arange(kernel[1]),
                                 indexing="ij")
    ih = oh * strides[0] - pads[0] + kh * dilations[0]
    iw = ow * strides[1] - pads[1] + kw * dilations[1]
    inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
    return tuple(a[inside] for a in (oh, ow, kh, kw, ih, iw)), out_h, out_w


def conv_matrix(weight: np.ndarray, shape: Shape, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                group: int = 1) -> tuple[sp.csr_array, Shape]:
    """The matrix of a 2-D convolution (ONNX ``Conv``, cross-correlation) on a ``shape`` input.

    ``weight`` is ``(M, C / group, kH, kW)``; ``pads`` are ``(top, left, bottom, right)``.
    """
    C, H, W = shape
    M, per_group, kH, kW = weight.shape
    if C % group or M % group or per_group != C // group:
        raise InputError(f"Conv weight {weight.shape} does not fit {C} input channels in {group} groups")
    (oh, ow, kh, kw, ih, iw), out_h, out_w = _taps(shape, (kH, kW), strides, pads, dilations)
    m = np.arange(M)[:, None, None]  # output channel × input channel of its group × tap
    c = (m // (M // group)) * per_group + np.arange(per_group)[None, :, None]
    rows = (m * out_h + oh[None, None, :]) * out_w + ow[None, None, :]
    cols = (c * H + ih[None, None, :]) * W + iw[None, None, :]
    vals = weight[m, c - (m // (M // group)) * per_group, kh[None, None, :], kw[None, None, :]]
    rows, cols, vals = (np.broadcast_to(a, vals.shape).ravel() for a in (rows, cols, vals))
    return sp.csr_array((vals, (rows, cols)), shape=(M * out_h * out_w, C * H * W)), (M, out_h, out_w)


def avgpool_matrix(shape: Shape, kernel: tuple[int, int], strides, pads=(0, 0, 0, 0),
                   count_include_pad: bool = False) -> tuple[sp.csr_array, Shape]:
    """The matrix of an average pool (ONNX ``AveragePool``) on a ``shape`` input."""
    C, H, W = shape
    (oh, ow, _, _, ih, iw), out_h, out_w = _taps(shape, kernel, strides, pads, (1, 1))
    out = oh * out_w + ow
    counts = np.full(out_h * out_w, kernel[0] * kernel[1]) if count_include_pad else np.bincount(out)
    ch = np.arange(C)[:, None]
    rows = (ch * out_h * out_w + out[None, :]).ravel()
    cols = ((ch * H + ih[None, :]) * W + iw[None, :]).ravel()
    vals = np.broadcast_to(1.0 / counts[out], (C, out.size)).ravel()
    return sp.csr_array((vals, (rows, cols)), shape=(C * out_h * out_w, C * H * W)), (C, out_h, out_w)


def maxpool_windows(shape: Shape, kernel: tuple[int, int], strides, pads=(0, 0, 0, 0),
                    dilations=(1, 1)) -> tuple[list[np.ndarray], Shape]:
    """For every output of a max pool, the flat input indices of its window (padding never wins)."""
    C, H, W = shape
    (oh, ow, _, _, ih, iw), out_h, out_w = _taps(shape, kernel, strides, pads, dilations)
    out = oh * out_w + ow
    windows = []
    for ch in range(C):
        flat = (ch * H + ih) * W + iw
        windows += [flat[out == k] for k in range(out_h * out_w)]
    return windows, (C, out_h, out_w)


def maxpool_layers(windows: list[np.ndarray], size: int,
                   nonnegative: bool = False) -> list[tuple[sp.csr_array, np.ndarray]]:
    """Affine maps ``[A₀, A₁, …, A_r]`` with ReLUs between them computing every window's max.

    Each round pairs the running values of a window: ``(a, b) ↦ relu(a − b), relu(b), relu(−b)``
    and ``max(a, b) = relu(a − b) + relu(b) − relu(−b)``; an unpaired value passes as
    ``relu(v) − relu(−v)``. When the pool's inputs are ``nonnegative`` (it follows a ReLU) the
    ``relu(−·)`` units are dropped: every running value stays nonnegative. ``A₀`` reads the
    pool's input (``size`` entries); the last map gives one value per window.
    """
    signs = (1.0,) if nonnegative else (1.0, -1.0)
    maps = []
    values = [sp.csr_array((np.ones(len(w)), (np.arange(len(w)), w)), shape=(len(w), size)) for w in windows]
    while any(v.shape[0] > 1 for v in values):  # values[k]: this layer's input -> window k's candidates
        blocks, combine, offset = [], [], 0
        for v in values:
            pairs, odd = v.shape[0] // 2, v.shape[0] % 2
            a, b = v[0:2 * pairs:2], v[1:2 * pairs:2]
            parts = [(a - b, 1.0, np.arange(pairs))]  # (rows, sign in the max, candidate they feed)
            parts += [(sign * b, sign, np.arange(pairs)) for sign in signs]
            parts += [(sign * v[-1:], sign, np.array([pairs])) for sign in signs] if odd else []
            block = sp.vstack([rows for rows, _, _ in parts], format="csr")
            targets = np.concatenate([np.broadcast_to(t, rows.shape[0]) for rows, _, t in parts])
            weights = np.concatenate([np.full(rows.shape[0], sign) for rows, sign, _ in parts])
            combine.append((targets, offset + np.arange(block.shape[0]), weights, pairs + odd))
            blocks.append(block)
            offset += block.shape[0]
        maps.append(sp.vstack(blocks, format="csr"))
        values = [sp.csr_array((w, (t, cols)), shape=(count, offset)) for t, cols, w, count in combine]
    maps.append(sp.vstack(values, format="csr"))
    return [(A, np.zeros(A.shape[0])) for A in maps]
