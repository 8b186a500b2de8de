r"""Convolution and pooling in NumPy, with TensorFlow's layouts and padding rules.

Layouts are TensorFlow's: images ``x`` are NHWC ``(batch, height, width, channels)`` and kernels
``w`` are HWIO ``(kernel_height, kernel_width, in_channels, out_channels)``. What TensorFlow, PyTorch
and JAX call convolution is cross-correlation (the kernel is not flipped):

.. math::

    Y[a, i, j, k] = b_k + \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1} \sum_{c=0}^{C-1}
                    W[u, v, c, k]\; X_p[a,\; s_H i + u,\; s_W j + v,\; c]

where :math:`X_p` is the padded input. Each function has two paths that agree:
``method="vectorized"`` (the default: im2col and one matrix product, or a strided window view)
and ``method="loop"``, which mirrors the formula term by term for teaching.

Padding is ``"valid"`` (none), ``"same"`` (TensorFlow's rule: the output has
``ceil(n / stride)`` cells and an odd total padding puts the extra row/column at the bottom/right)
or explicit ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np

from gradbook.validation import check_choice, check_whole

__all__ = [
    "PADDINGS",
    "avg_pool2d",
    "check_images",
    "conv2d",
    "conv2d_macs",
    "conv2d_params",
    "conv_output_size",
    "dense_params",
    "float_dtype",
    "im2col",
    "KERNELS",
    "input_window",
    "kernel",
    "max_pool2d",
    "pad_images",
    "pool_geometry",
    "receptive_field",
    "receptive_field_size",
    "same_padding",
    "sliding_windows",
    "window_geometry",
]

#: The named padding modes.
PADDINGS: tuple[str, ...] = ("valid", "same")
_METHODS = ("vectorized", "loop")

Pair = Tuple[int, int]
Padding = Union[str, Sequence[Sequence[int]]]


# -- sizes and padding ---------------------------------------------------------------------------
def _pair(value, name: str) -> Pair:
    """An int or a pair of ints -> (height, width), each a whole number >= 1."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    else:
        try:
            pair = tuple(int(v) for v in value)
        except TypeError:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.") from None
        if len(pair) != 2 or any(float(v) != int(v) for v in value):
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.")
    return tuple(check_whole(v, name) for v in pair)  # type: ignore[return-value]


def same_padding(n: int, k: int, stride: int = 1) -> Pair:
    """TensorFlow's ``"same"`` padding along one axis: ``(before, after)``.

    The output has ``ceil(n / stride)`` cells; the total padding is
    ``max((ceil(n / stride) - 1) * stride + k - n, 0)``, split with the extra cell (when the total
    is odd) after, that is at the bottom or right.
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def _paddings(padding: Padding, in_hw: Pair, k_hw: Pair, stride: Pair) -> tuple[Pair, Pair]:
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return (same_padding(in_hw[0], k_hw[0], stride[0]), same_padding(in_hw[1], k_hw[1], stride[1]))
        raise ValueError(
            f"Unknown padding {padding!r}: use 'valid', 'same' or ((top, bottom), (left, right))."
        )
    try:
        (top, bottom), (left, right) = padding
        pads = tuple(int(p) for p in (top, bottom, left, right))
    except (TypeError, ValueError):
        raise ValueError(
            f"Unknown padding {padding!r}: use 'valid', 'same' or ((top, bottom), (left, right))."
        ) from None
    for side, pad in zip(("top", "bottom", "left", "right"), pads):
        check_whole(pad, f"padding {side}", minimum=0)
    return (pads[0], pads[1]), (pads[2], pads[3])


def conv_output_size(n: int, k: int, stride: int = 1, padding: Padding | Pair = "valid") -> int:
    r"""Output length along one axis of a convolution or pooling.

    ``"valid"``: :math:`\lfloor (n - k) / s \rfloor + 1`; ``"same"``: :math:`\lceil n / s \rceil`;
    explicit ``(before, after)``: :math:`\lfloor (n + p_b + p_a - k) / s \rfloor + 1`.

    Raises
    ------
    ValueError
        If the window does not fit in the (padded) input, or a size or stride is below 1.

    Examples
    --------
    >>> conv_output_size(28, 3), conv_output_size(28, 3, 2, "same"), conv_output_size(28, 3, 1, (1, 1))
    (26, 14, 28)
    """
    n = check_whole(n, "n")
    k = check_whole(k, "k")
    stride = check_whole(stride, "stride")
    if isinstance(padding, str):
        (before, after), _ = _paddings(padding, (n, n), (k, k), (stride, stride))
    else:
        (before, after), _ = _paddings((padding, (0, 0)), (n, n), (k, k), (stride, stride))
    padded = n + before + after
    if k > padded:
        raise ValueError(f"Window {k} is larger than the padded input {padded} (n={n}, padding {before}+{after}).")
    return (padded - k) // stride + 1


# -- parameter and computation counts -------------------------------------------------------------
def conv2d_params(kernel_size, in_channels: int, filters: int, *, use_bias: bool = True) -> int:
    """Trainable parameters of a 2-D convolution: ``(K_H * K_W * C_in + bias) * filters``."""
    kh, kw = _pair(kernel_size, "kernel_size")
    return (kh * kw * int(in_channels) + int(bool(use_bias))) * int(filters)


def dense_params(in_features: int, units: int, *, use_bias: bool = True) -> int:
    """Trainable parameters of a dense layer: ``(in_features + bias) * units``."""
    return (int(in_features) + int(bool(use_bias))) * int(units)


def conv2d_macs(output_hw, kernel_size, in_channels: int, filters: int) -> int:
    """Multiply-accumulates of one convolution on one image: ``H_out W_out K_H K_W C_in C_out``."""
    oh, ow = _pair(output_hw, "output_hw")
    kh, kw = _pair(kernel_size, "kernel_size")
    return oh * ow * kh * kw * int(in_channels) * int(filters)


# -- shared checks ---------------------------------------------------------------------------------
def check_images(x) -> np.ndarray:
    """``x`` as a NumPy array of NHWC images.

    Parameters
    ----------
    x : array_like
        A batch of images, shape ``(batch, height, width, channels)``.

    Returns
    -------
    numpy.ndarray
        ``x``, not copied when it already is an array.

    Raises
    ------
    ValueError
        If ``x`` is not 4-dimensional or not numeric.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be NHWC (batch, height, width, channels), got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"x must be numeric, got dtype {x.dtype}.")
    return x


def float_dtype(x: np.ndarray) -> np.dtype:
    """The dtype the layers compute ``x`` in: a floating ``x`` keeps its precision, integers use float64."""
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def window_geometry(x_shape, window, stride=1, padding: Padding = "valid") -> tuple[Pair, tuple[Pair, Pair], Pair]:
    """Where a sliding window of ``window`` cells reads an NHWC input of shape ``x_shape``.

    Parameters
    ----------
    x_shape : tuple of int
        The input's shape, ``(batch, height, width, channels)``.
    window : int or (int, int)
        The window's (kernel's or pooling's) height and width.
    stride : int or (int, int), default 1
    padding : {"valid", "same"} or ((top, bottom), (left, right)), default "valid"
        As in TensorFlow ("same" puts an odd extra cell at the bottom/right).

    Returns
    -------
    stride : (int, int)
    pads : ((int, int), (int, int))
        Cells added at the top and bottom, left and right.
    out : (int, int)
        The output's height and width.

    Raises
    ------
    ValueError
        For a stride, window or padding that is not valid, or a window larger than the padded input.
    """
    k_hw = _pair(window, "window")
    s = _pair(stride, "stride")
    pads = _paddings(padding, (x_shape[1], x_shape[2]), k_hw, s)
    padded = (x_shape[1] + sum(pads[0]), x_shape[2] + sum(pads[1]))
    if k_hw[0] > padded[0] or k_hw[1] > padded[1]:
        raise ValueError(
            f"Window {k_hw[0]}x{k_hw[1]} is larger than the padded input {padded[0]}x{padded[1]} "
            f"(input {x_shape[1]}x{x_shape[2]}, padding {pads})."
        )
    out = ((padded[0] - k_hw[0]) // s[0] + 1, (padded[1] - k_hw[1]) // s[1] + 1)
    return s, pads, out


def pad_images(x: np.ndarray, pads: tuple[Pair, Pair], value: float = 0.0) -> np.ndarray:
    """``x`` (NHWC) with ``pads = ((top, bottom), (left, right))`` cells of ``value`` around each image.

    Returns ``x`` itself when there is nothing to add.
    """
    if not any(pads[0]) and not any(pads[1]):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def sliding_windows(xp: np.ndarray, window, stride, out: Pair) -> np.ndarray:
    """A strided view of every window of the padded images ``xp``, without a copy.

    Parameters
    ----------
    xp : numpy.ndarray
        Padded NHWC images (see :func:`pad_images`).
    window, stride : int or (int, int)
    out : (int, int)
        The output size, from :func:`window_geometry`.

    Returns
    -------
    numpy.ndarray
        Shape ``(batch, H_out, W_out, channels, K_H, K_W)``: ``[a, i, j, c]`` is the window that output
        cell ``(a, i, j)`` reads in channel ``c``.
    """
    k_hw, s = _pair(window, "window"), _pair(stride, "stride")
    view = np.lib.stride_tricks.sliding_window_view(xp, k_hw, axis=(1, 2))
    return view[:, : (out[0] - 1) * s[0] + 1 : s[0], : (out[1] - 1) * s[1] + 1 : s[1]]


# -- convolution -----------------------------------------------------------------------------------
def im2col(x, kernel_size, *, stride=1, padding: Padding = "valid") -> np.ndarray:
    """Unfold every window of ``x`` into a row: shape ``(N * H_out * W_out, K_H * K_W * C)``.

    Row ``r`` holds the window of output cell ``(a, i, j)`` with ``r = (a * H_out + i) * W_out + j``,
    flattened in (u, v, c) order, the order of ``w.reshape(-1, out_channels)`` for an HWIO kernel.
    A convolution is then one matrix product: ``im2col(x) @ w.reshape(-1, C_out)``.
    """
    x = check_images(x)
    k = _pair(kernel_size, "kernel_size")
    s, pads, out = window_geometry(x.shape, k, stride, padding)
    win = sliding_windows(pad_images(x, pads), k, s, out)  # (N, Ho, Wo, C, KH, KW)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k[0] * k[1] * x.shape[3])


def conv2d(x, w, b=None, *, stride=1, padding: Padding = "valid", method: str = "vectorized") -> np.ndarray:
    """2-D convolution (cross-correlation) exactly as ``tf.nn.conv2d`` computes it.

    Parameters
    ----------
    x : array of shape (N, H, W, C_in)
    w : array of shape (K_H, K_W, C_in, C_out)
    b : array of shape (C_out,), optional
    stride : int or (int, int)
    padding : "valid", "same" or ((top, bottom), (left, right))
    method : {"vectorized", "loop"}

    Returns
    -------
    numpy.ndarray of shape (N, H_out, W_out, C_out), in the result dtype of ``x`` and ``w``.

    Raises
    ------
    ValueError
        On a shape that cannot work (the shapes are in the message), a stride below 1, an
        unknown padding or an unknown method.

    Examples
    --------
    A 2x2 kernel of ones sums each 2x2 window of a 3x3 image:

    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> conv2d(x, np.ones((2, 2, 1, 1)))[0, :, :, 0].tolist()
    [[8.0, 12.0], [20.0, 24.0]]
    >>> conv2d(x, np.ones((2, 2, 1, 1)), padding="same").shape
    (1, 3, 3, 1)
    """
    check_choice(method, "method", _METHODS)
    x = check_images(x)
    w = np.asarray(w)
    if w.ndim != 4:
        raise ValueError(f"w must be HWIO (kernel_h, kernel_w, in_channels, out_channels), got shape {w.shape}.")
    if w.shape[2] != x.shape[3]:
        raise ValueError(
            f"Channel mismatch: x {x.shape} has {x.shape[3]} channels but w {w.shape} expects {w.shape[2]}."
        )
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[3],):
            raise ValueError(f"b must have shape ({w.shape[3]},) for w {w.shape}, got {b.shape}.")
    k = (w.shape[0], w.shape[1])
    s, pads, out = window_geometry(x.shape, k, stride, padding)
    dtype = np.result_type(x, w, *(() if b is None else (b,)))
    xp = pad_images(x.astype(dtype, copy=False), pads)
    if method == "vectorized":
        cols = im2col(xp, k, stride=s)
        y = (cols @ w.astype(dtype, copy=False).reshape(-1, w.shape[3])).reshape(x.shape[0], out[0], out[1], w.shape[3])
    else:
        y = np.zeros((x.shape[0], out[0], out[1], w.shape[3]), dtype=dtype)
        for a in range(x.shape[0]):
            for i in range(out[0]):
                for j in range(out[1]):
                    for o in range(w.shape[3]):
                        total = dtype.type(0)
                        for u in range(k[0]):
                            for v in range(k[1]):
                                for c in range(x.shape[3]):
                                    total += w[u, v, c, o] * xp[a, s[0] * i + u, s[1] * j + v, c]
                        y[a, i, j, o] = total
    if b is not None:
        y = y + b.astype(dtype, copy=False)
    return y


# -- pooling ---------------------------------------------------------------------------------------
def pool_geometry(x, pool_size=2, stride=None, padding: Padding = "valid"):
    """The checked images and the geometry of a pooling layer over them.

    ``stride`` defaults to ``pool_size``, as in Keras.

    Returns
    -------
    x : numpy.ndarray
        The images, checked by :func:`check_images`.
    pool_size, stride : (int, int)
    pads : ((int, int), (int, int))
    out : (int, int)
        As :func:`window_geometry` returns them.
    """
    x = check_images(x)
    k = _pair(pool_size, "pool_size")
    s, pads, out = window_geometry(x.shape, k, k if stride is None else stride, padding)
    return x, k, s, pads, out


def max_pool2d(x, pool_size=2, *, stride=None, padding: Padding = "valid", method: str = "vectorized") -> np.ndarray:
    """Max pooling as ``tf.nn.max_pool2d``: padded cells never win (they count as -inf), and a
    NaN loses to any number, as in TensorFlow's CPU kernel.

    ``stride`` defaults to ``pool_size``, as in Keras. Same conventions as :func:`conv2d`.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> max_pool2d(x, 2)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    check_choice(method, "method", _METHODS)
    x, k, s, pads, out = pool_geometry(x, pool_size, stride, padding)
    dtype = float_dtype(x)
    xp = pad_images(x.astype(dtype, copy=False), pads, value=-np.inf)
    if method == "vectorized":
        # fmax ignores NaN the way TensorFlow's kernel (and the loop below) does.
        return np.fmax.reduce(sliding_windows(xp, k, s, out), axis=(4, 5))
    y = np.empty((x.shape[0], out[0], out[1], x.shape[3]), dtype=dtype)
    for a in range(x.shape[0]):
        for i in range(out[0]):
            for j in range(out[1]):
                for c in range(x.shape[3]):
                    best = -np.inf
                    for u in range(k[0]):
                        for v in range(k[1]):
                            best = max(best, xp[a, s[0] * i + u, s[1] * j + v, c])
                    y[a, i, j, c] = best
    return y


def avg_pool2d(x, pool_size=2, *, stride=None, padding: Padding = "valid", method: str = "vectorized") -> np.ndarray:
    """Average pooling as ``tf.nn.avg_pool2d``: each window averages its cells inside the input only.

    With padding, a border window divides by the number of real cells it covers, not by
    ``K_H * K_W``. ``stride`` defaults to ``pool_size``. Same conventions as :func:`conv2d`.
    """
    check_choice(method, "method", _METHODS)
    x, k, s, pads, out = pool_geometry(x, pool_size, stride, padding)
    dtype = float_dtype(x)
    xp = pad_images(x.astype(dtype, copy=False), pads)
    inside = pad_images(np.ones((1, x.shape[1], x.shape[2], 1), dtype=dtype), pads)
    if method == "vectorized":
        sums = sliding_windows(xp, k, s, out).sum(axis=(4, 5))
        counts = sliding_windows(inside, k, s, out).sum(axis=(4, 5))
        return sums / counts
    y = np.empty((x.shape[0], out[0], out[1], x.shape[3]), dtype=dtype)
    for a in range(x.shape[0]):
        for i in range(out[0]):
            for j in range(out[1]):
                for c in range(x.shape[3]):
                    total, count = dtype.type(0), 0
                    for u in range(k[0]):
                        for v in range(k[1]):
                            total += xp[a, s[0] * i + u, s[1] * j + v, c]
                            count += int(inside[0, s[0] * i + u, s[1] * j + v, 0])
                    y[a, i, j, c] = total / count
    return y


# -- receptive field -------------------------------------------------------------------------------
def input_window(i: int, j: int, kernel_size, *, stride=1, padding: Padding = "valid", input_hw) -> tuple[slice, slice]:
    """The input rows and columns that output cell ``(i, j)`` reads, clipped to the input.

    Returns
    -------
    (rows, cols) : tuple of slice
        Use as ``x[:, rows, cols, :]``. Cells that fall in the padding are outside the slices.

    Raises
    ------
    ValueError
        If ``(i, j)`` is not a cell of the output.
    """
    k = _pair(kernel_size, "kernel_size")
    hw = _pair(input_hw, "input_hw")
    s, pads, out = window_geometry((1, hw[0], hw[1], 1), k, stride, padding)
    if not (0 <= i < out[0] and 0 <= j < out[1]):
        raise ValueError(f"Output cell ({i}, {j}) is outside the {out[0]}x{out[1]} output.")
    top = s[0] * i - pads[0][0]
    left = s[1] * j - pads[1][0]
    # Clamp both ends: a cell that reads only padding gets an empty slice, never a negative
    # stop (which Python would count from the end).
    rows = slice(min(max(top, 0), hw[0]), min(max(top + k[0], 0), hw[0]))
    cols = slice(min(max(left, 0), hw[1]), min(max(left + k[1], 0), hw[1]))
    return rows, cols


def receptive_field(rows: slice, cols: slice, kernel_size, *, stride=1, padding: Padding = "valid", input_hw) -> tuple[slice, slice]:
    """The smallest box of input cells that covers every window read by a block of output cells.

    Parameters
    ----------
    rows, cols : slice
        The block of output cells (non-empty, step 1), e.g. one pooling window on a feature map.
    kernel_size, stride, padding, input_hw :
        As for :func:`input_window`.

    Returns
    -------
    (rows, cols) : tuple of slice
        Input rows and columns, clipped to the input. When the stride exceeds the kernel, the
        windows do not touch and the box also covers the cells between them.

    Examples
    --------
    >>> receptive_field(slice(0, 2), slice(0, 2), 3, input_hw=(8, 8))
    (slice(0, 4, None), slice(0, 4, None))
    """
    if rows.stop is None or cols.stop is None or rows.stop <= rows.start or cols.stop <= cols.start:
        raise ValueError(f"rows and cols must be non-empty slices with a stop, got {rows} and {cols}.")
    corners = [
        input_window(i, j, kernel_size, stride=stride, padding=padding, input_hw=input_hw)
        for i in (rows.start, rows.stop - 1)
        for j in (cols.start, cols.stop - 1)
    ]
    return (slice(min(r.start for r, _ in corners), max(r.stop for r, _ in corners)),
            slice(min(c.start for _, c in corners), max(c.stop for _, c in corners)))


def receptive_field_size(kernel_sizes: Sequence[int], strides: Sequence[int] | None = None,
                         dilations: Sequence[int] | None = None) -> int:
    r"""Side of the receptive field of one output cell of a stack of convolutions or poolings.

    Layer :math:`l` (counted from the input) with kernel :math:`k_l`, stride :math:`s_l` and dilation
    :math:`d_l` reads an effective window of :math:`d_l (k_l - 1) + 1` cells, and one step of its
    input is :math:`\prod_{i<l} s_i` input pixels, so

    .. math::

        r_0 = 1, \qquad r_l = r_{l-1} + d_l (k_l - 1) \prod_{i<l} s_i .

    Along one axis; padding does not change it (cells near the border read some padding instead
    of pixels). With dilation, or a stride larger than the kernel, the field is a box with holes:
    :math:`r` is its extent, not the number of pixels read.

    Parameters
    ----------
    kernel_sizes : sequence of int
        Window of each layer, from the input up (a pooling layer counts with its window).
    strides : sequence of int, optional
        Stride of each layer; all 1 when omitted.
    dilations : sequence of int, optional
        Dilation rate of each layer; all 1 when omitted.

    Returns
    -------
    int
        The field's side in input pixels; 1 for an empty stack.

    Raises
    ------
    ValueError
        If a size, stride or dilation is not a positive whole number, or the sequences differ in
        length.

    Examples
    --------
    Two 3x3 convolutions see as far as one 5x5; a stride-2 pooling doubles what later layers add:

    >>> receptive_field_size([3, 3]), receptive_field_size([5])
    (5, 5)
    >>> receptive_field_size([3, 2, 3], strides=[1, 2, 1])
    8
    >>> receptive_field_size([3, 3, 3], dilations=[1, 2, 4])
    15
    """
    kernel_sizes = [check_whole(k, "kernel size") for k in kernel_sizes]
    per_layer = {}
    for name, values in (("strides", strides), ("dilations", dilations)):
        if values is None:
            per_layer[name] = [1] * len(kernel_sizes)
            continue
        values = [check_whole(v, name[:-1]) for v in values]
        if len(values) != len(kernel_sizes):
            raise ValueError(f"{name} has {len(values)} entries but kernel_sizes has {len(kernel_sizes)}; "
                             f"give one per layer.")
        per_layer[name] = values
    field, jump = 1, 1
    for k, s, d in zip(kernel_sizes, per_layer["strides"], per_layer["dilations"]):
        field += d * (k - 1) * jump
        jump *= s
    return field


# -- named kernels for exploring -------------------------------------------------------------------
#: Names :func:`kernel` knows.
KERNELS: tuple[str, ...] = ("edge", "blur", "sharpen", "random")


def kernel(name: str, size: int = 3, *, seed: int = 0) -> np.ndarray:
    """A classic square image kernel, shape ``(size, size)``.

    ``"blur"``: the box filter, all ``1 / size**2``. ``"edge"``: a Laplacian-like detector,
    ``-1`` everywhere and ``size**2 - 1`` at the centre, so it sums to 0 and a flat region maps
    to 0. ``"sharpen"``: twice the identity minus the blur (sums to 1). ``"random"``: Gaussian
    entries scaled by ``1 / size``, as a freshly initialised layer might hold.
    The centre of an even-sized kernel is cell ``(size // 2, size // 2)``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists :data:`KERNELS`) or a size below 1 (below 2 for
        "edge" and "sharpen", which need a neighbourhood).

    Examples
    --------
    >>> kernel("edge").tolist()
    [[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]
    >>> float(kernel("blur", 4).sum())
    1.0
    """
    check_choice(name, "kernel", KERNELS)
    size = check_whole(size, "size")
    if name in ("edge", "sharpen") and size < 2:
        raise ValueError(f"The {name!r} kernel needs size >= 2, got {size}.")
    centre = (size // 2, size // 2)
    if name == "blur":
        return np.full((size, size), 1.0 / size**2)
    if name == "edge":
        k = -np.ones((size, size))
        k[centre] = size**2 - 1
        return k
    if name == "sharpen":
        k = -np.full((size, size), 1.0 / size**2)
        k[centre] += 2.0
        return k
    return np.random.default_rng(seed).normal(size=(size, size)) / size
