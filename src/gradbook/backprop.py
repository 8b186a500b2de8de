r"""Backward passes in NumPy: dense, convolution, pooling and activations, plus a gradient check.

Every ``*_backward`` function takes the layer's input and the gradient of the loss with respect
to the layer's output (``grad_out``, :math:`\partial L / \partial Y`) and returns the gradients
with respect to the layer's input and parameters. Conventions (layouts, stride, padding) are
those of :mod:`gradbook.conv`; the tests check every function against ``tf.GradientTape`` and
against :func:`gradient_check`.

The one idea behind all of them is the chain rule summed over every path: if an input value
influences several outputs, its gradient is the sum of the gradients arriving through each one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from gradbook import conv
from gradbook.validation import check_choice, check_number, check_whole

__all__ = [
    "ACTIVATIONS",
    "GATES",
    "GradientCheck",
    "SIGMOID_LOSSES",
    "TinyCNN",
    "TwoLayerNet",
    "activation",
    "activation_backward",
    "avg_pool2d_backward",
    "conv2d_backward",
    "dense_backward",
    "gate_backward",
    "gradient_check",
    "input_gradients",
    "max_pool2d_backward",
    "sigmoid_loss",
    "softmax",
    "softmax_cross_entropy",
]

#: The book's activations, each with a forward function and a derivative here (Keras names and
#: defaults). ``models.FIXED_ACTIVATIONS`` extends this list with "linear"; the controls offer it.
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")

#: The gates of :func:`gate_backward`.
GATES: tuple[str, ...] = ("add", "max", "multiply")

#: The losses of :func:`sigmoid_loss`: half the squared error, and the binary cross-entropy.
SIGMOID_LOSSES: tuple[str, ...] = ("mse", "cross_entropy")

_LEAKY_SLOPE = 0.2  # keras.activations.leaky_relu's default negative_slope
_ELU_ALPHA = 1.0


# -- gates ---------------------------------------------------------------------------------------------
def gate_backward(gate: str, a, b, upstream) -> tuple[np.ndarray, np.ndarray]:
    r"""The gradients a two-input gate sends back to its inputs ``a`` and ``b``.

    For an upstream gradient :math:`g = \partial L/\partial \text{out}`: an ``"add"`` gate
    (:math:`a + b`) passes :math:`g` unchanged to both inputs; a ``"max"`` gate
    (:math:`\max(a, b)`) routes :math:`g` to the larger input and 0 to the other (to ``a`` on a
    tie, as TensorFlow's ``tf.maximum`` does); a ``"multiply"`` gate (:math:`a b`) sends
    :math:`g b` to ``a`` and :math:`g a` to ``b``, each input's gradient scaled by the *other* input.
    Elementwise, with NumPy broadcasting: both gradients come back in the broadcast shape of ``a``,
    ``b`` and ``upstream``. Unlike ``tf.GradientTape``, which sums the gradient of a broadcast input
    over the broadcast axes back to that input's shape, nothing is summed here.

    Parameters
    ----------
    gate : {"add", "max", "multiply"}
        One of :data:`GATES`.
    a, b : array_like
        The gate's two inputs in the forward pass.
    upstream : array_like
        The gradient of the loss with respect to the gate's output.

    Returns
    -------
    grad_a, grad_b : numpy.ndarray
        The gradients of the loss with respect to ``a`` and ``b``, of the broadcast shape.

    Raises
    ------
    ValueError
        For a gate not in :data:`GATES` (the message lists them).

    Examples
    --------
    >>> [float(g) for g in gate_backward("add", 3.0, -4.0, 2.0)]
    [2.0, 2.0]
    >>> [float(g) for g in gate_backward("max", 3.0, -4.0, 2.0)]
    [2.0, 0.0]
    >>> [float(g) for g in gate_backward("multiply", 3.0, -4.0, 2.0)]
    [-8.0, 6.0]
    >>> [g.shape for g in gate_backward("add", np.ones((3, 1)), np.ones((1, 4)), 1.0)]
    [(3, 4), (3, 4)]
    """
    check_choice(gate, "gate", GATES)
    a, b, g = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, upstream)))
    if gate == "add":
        return g.copy(), g.copy()
    if gate == "max":
        first = a >= b
        return np.where(first, g, 0.0), np.where(first, 0.0, g)
    return g * b, g * a


# -- dense -------------------------------------------------------------------------------------------
def dense_backward(x, w, grad_out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :math:`Y = XW + b`.

    :math:`\partial L/\partial X = G W^\top`, :math:`\partial L/\partial W = X^\top G`,
    :math:`\partial L/\partial b = \sum_{\text{rows}} G`, with :math:`G = \partial L/\partial Y`.

    Parameters
    ----------
    x : array of shape (N, n_in)
    w : array of shape (n_in, n_out)
    grad_out : array of shape (N, n_out)

    Returns
    -------
    grad_x, grad_w, grad_b
    """
    x, w, g = np.asarray(x), np.asarray(w), np.asarray(grad_out)
    if x.ndim != 2 or w.ndim != 2 or g.ndim != 2:
        raise ValueError(f"Need 2-D x, w, grad_out; got shapes {x.shape}, {w.shape}, {g.shape}.")
    if x.shape[1] != w.shape[0] or g.shape != (x.shape[0], w.shape[1]):
        raise ValueError(
            f"Shapes do not fit y = x @ w: x {x.shape}, w {w.shape}, grad_out {g.shape} "
            f"(expected grad_out {(x.shape[0], w.shape[1])})."
        )
    return g @ w.T, x.T @ g, g.sum(axis=0)


# -- convolution ---------------------------------------------------------------------------------------
def _floating(z) -> np.ndarray:
    """``z`` (an array or a list) as a floating array: a float dtype stays, integers become float32
    or wider (NumPy's promotion with float32)."""
    z = np.asarray(z)
    return z.astype(np.result_type(z, np.float32), copy=False)


def _col2im(cols: np.ndarray, padded_shape, k_hw, s, out) -> np.ndarray:
    """Scatter-add window rows back onto a (padded) input: the adjoint of im2col."""
    n, hp, wp, c = padded_shape
    cols = cols.reshape(n, out[0], out[1], k_hw[0], k_hw[1], c)
    grad = np.zeros(padded_shape, dtype=cols.dtype)
    for u in range(k_hw[0]):
        for v in range(k_hw[1]):
            grad[:, u : u + s[0] * (out[0] - 1) + 1 : s[0], v : v + s[1] * (out[1] - 1) + 1 : s[1], :] += cols[:, :, :, u, v, :]
    return grad


def _crop(grad_padded: np.ndarray, pads) -> np.ndarray:
    (top, bottom), (left, right) = pads
    h, w = grad_padded.shape[1], grad_padded.shape[2]
    return grad_padded[:, top : h - bottom, left : w - right, :]


def conv2d_backward(x, w, grad_out, *, stride=1, padding: conv.Padding = "valid") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`gradbook.conv.conv2d`.

    With the im2col view :math:`Y = \text{cols}(X)\,W_{\text{mat}}`:
    :math:`\partial L/\partial W_{\text{mat}} = \text{cols}(X)^\top G` (a sum over every output
    position, because the kernel is shared), :math:`\partial L/\partial b_k = \sum_{a,i,j} G[a,i,j,k]`,
    and :math:`\partial L/\partial X` scatters :math:`G W_{\text{mat}}^\top` back onto the
    windows it came from (col2im), summing where windows overlap, then drops the padding.

    Parameters
    ----------
    x : array (N, H, W, C_in)
    w : array (K_H, K_W, C_in, C_out)
    grad_out : array (N, H_out, W_out, C_out)

    Returns
    -------
    grad_x, grad_w, grad_b
        Shapes of ``x``, ``w`` and ``(C_out,)``.
    """
    x = conv.check_images(x)
    w = np.asarray(w)
    g = np.asarray(grad_out)
    if w.ndim != 4 or w.shape[2] != x.shape[3]:
        raise ValueError(f"w {w.shape} does not fit x {x.shape}: need HWIO with in_channels {x.shape[3]}.")
    k = (w.shape[0], w.shape[1])
    s, pads, out = conv.window_geometry(x.shape, k, stride, padding)
    if g.shape != (x.shape[0], out[0], out[1], w.shape[3]):
        raise ValueError(f"grad_out has shape {g.shape}; the convolution's output has shape {(x.shape[0], out[0], out[1], w.shape[3])}.")
    dtype = np.result_type(x, w, g)
    xp = conv.pad_images(x.astype(dtype, copy=False), pads)
    cols = conv.im2col(xp, k, stride=s)                          # (N*Ho*Wo, KH*KW*C)
    g_mat = g.astype(dtype, copy=False).reshape(-1, w.shape[3])   # (N*Ho*Wo, C_out)
    grad_w = (cols.T @ g_mat).reshape(w.shape)
    grad_b = g_mat.sum(axis=0)
    grad_cols = g_mat @ w.astype(dtype, copy=False).reshape(-1, w.shape[3]).T
    grad_x = _crop(_col2im(grad_cols, xp.shape, k, s, out), pads)
    return grad_x, grad_w, grad_b


# -- pooling -------------------------------------------------------------------------------------------
def _pool_backward_setup(x, grad_out, pool_size, stride, padding):
    """Checked geometry of a pooling layer and its upstream gradient."""
    x, k, s, pads, out = conv.pool_geometry(x, pool_size, stride, padding)
    g = np.asarray(grad_out)
    if g.shape != (x.shape[0], out[0], out[1], x.shape[3]):
        raise ValueError(f"grad_out has shape {g.shape}; the pooling output has shape {(x.shape[0], out[0], out[1], x.shape[3])}.")
    return x, k, s, pads, out, g


def max_pool2d_backward(x, grad_out, pool_size=2, *, stride=None, padding: conv.Padding = "valid") -> np.ndarray:
    """Backward pass of :func:`gradbook.conv.max_pool2d`: each window's gradient goes to its maximum.

    Ties go to the first maximal cell in row-major order of the window, as TensorFlow's CPU
    kernel does; overlapping windows add their gradients. Padded cells never receive gradient.
    A NaN never wins while the window holds a number (TensorFlow's kernel may route the gradient
    to a NaN instead; a NaN in a network is a bug to fix, not a value to differentiate).

    Parameters
    ----------
    x : array of shape (N, H, W, C)
        The pooling layer's input.
    grad_out : array of shape (N, H_out, W_out, C)
        The gradient of the loss with respect to the pooling output.
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``, as in Keras.
    padding : "valid", "same" or ((top, bottom), (left, right))

    Returns
    -------
    grad_x : array of the shape of ``x``

    Raises
    ------
    ValueError
        If ``grad_out`` does not have the pooling output's shape, or the geometry is invalid.
    """
    x, k, s, pads, out, g = _pool_backward_setup(x, grad_out, pool_size, stride, padding)
    dtype = conv.float_dtype(x)
    xp = conv.pad_images(x.astype(dtype, copy=False), pads, value=-np.inf)
    win = conv.sliding_windows(xp, k, s, out)                         # (N, Ho, Wo, C, KH, KW)
    flat = win.reshape(*win.shape[:4], k[0] * k[1])
    flat = np.where(np.isnan(flat), -np.inf, flat)             # NaN never wins, as in the forward pass
    real = conv.pad_images(np.ones((1, x.shape[1], x.shape[2], 1), dtype=bool), pads, value=False)
    real = conv.sliding_windows(real, k, s, out).reshape(1, out[0], out[1], 1, k[0] * k[1])
    # The winner is the first real cell (row-major) holding the window's maximum; padding,
    # which holds -inf, loses every tie, even against a real -inf.
    winners = (flat == flat.max(axis=-1, keepdims=True)) & real
    arg = winners.argmax(axis=-1)
    du, dv = np.divmod(arg, k[1])
    a, i, j, c = np.indices(arg.shape)
    rows = s[0] * i + du
    cols = s[1] * j + dv
    grad = np.zeros(xp.shape, dtype=np.result_type(dtype, g))
    np.add.at(grad, (a, rows, cols, c), np.where(winners.any(axis=-1), g, 0))
    return _crop(grad, pads)


def avg_pool2d_backward(x, grad_out, pool_size=2, *, stride=None, padding: conv.Padding = "valid") -> np.ndarray:
    """Backward pass of :func:`gradbook.conv.avg_pool2d`: each window spreads its gradient evenly.

    A window divides its gradient by the number of real (unpadded) cells it covers, matching the
    forward pass; overlapping windows add.

    Parameters
    ----------
    x : array of shape (N, H, W, C)
        The pooling layer's input.
    grad_out : array of shape (N, H_out, W_out, C)
        The gradient of the loss with respect to the pooling output.
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to ``pool_size``, as in Keras.
    padding : "valid", "same" or ((top, bottom), (left, right))

    Returns
    -------
    grad_x : array of the shape of ``x``

    Raises
    ------
    ValueError
        If ``grad_out`` does not have the pooling output's shape, or the geometry is invalid.
    """
    x, k, s, pads, out, g = _pool_backward_setup(x, grad_out, pool_size, stride, padding)
    dtype = np.result_type(conv.float_dtype(x), g)
    inside = conv.pad_images(np.ones((1, x.shape[1], x.shape[2], 1), dtype=dtype), pads)
    counts = conv.sliding_windows(inside, k, s, out).sum(axis=(4, 5))   # (1, Ho, Wo, 1)
    share = (g / counts).astype(dtype, copy=False)                 # (N, Ho, Wo, C)
    padded_shape = (x.shape[0], x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1]), x.shape[3])
    cols = np.broadcast_to(share[:, :, :, None, None, :], (*share.shape[:3], k[0], k[1], share.shape[3]))
    return _crop(_col2im(np.ascontiguousarray(cols), padded_shape, k, s, out), pads)


# -- activations ---------------------------------------------------------------------------------------
def activation(name: str, z) -> np.ndarray:
    """Apply an activation (Keras's definition and defaults: leaky slope 0.2, ELU alpha 1, exact GELU).

    Parameters
    ----------
    name : {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"}
        One of :data:`ACTIVATIONS`.
    z : numpy.ndarray
        Pre-activations; integer arrays are computed in float32.

    Returns
    -------
    numpy.ndarray
        ``f(z)``, elementwise, in the floating dtype of ``z``.

    Raises
    ------
    ValueError
        For a name not in :data:`ACTIVATIONS` (the message lists them).

    Examples
    --------
    >>> z = np.array([-1.0, 2.0])
    >>> activation("relu", z).tolist()
    [0.0, 2.0]
    >>> activation("leaky_relu", z).round(3).tolist()
    [-0.2, 2.0]
    """
    check_choice(name, "activation", ACTIVATIONS)
    z = _floating(z)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, _LEAKY_SLOPE * z)
    if name == "elu":
        return np.where(z > 0, z, _ELU_ALPHA * np.expm1(np.minimum(z, 0)))
    erf = np.vectorize(math.erf, otypes=[z.dtype])
    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


def activation_backward(name: str, z, grad_out) -> np.ndarray:
    r"""Gradient of the loss with respect to the pre-activation ``z``: ``grad_out * f'(z)``.

    Derivatives: sigmoid :math:`\sigma(1-\sigma)` (at most 1/4), tanh :math:`1 - \tanh^2`,
    ReLU :math:`[z > 0]` (0 at 0, as TensorFlow), leaky ReLU 1 or 0.2, ELU 1 or
    :math:`\alpha e^z`, GELU :math:`\Phi(z) + z\,\varphi(z)`.

    Parameters
    ----------
    name : {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"}
        One of :data:`ACTIVATIONS`.
    z : numpy.ndarray
        The pre-activations of the forward pass.
    grad_out : numpy.ndarray
        The gradient of the loss with respect to the activation's output; broadcast with ``z``.

    Returns
    -------
    numpy.ndarray
        ``grad_out * f'(z)``.

    Raises
    ------
    ValueError
        For a name not in :data:`ACTIVATIONS` (the message lists them).

    Examples
    --------
    >>> activation_backward("sigmoid", np.zeros(1), np.ones(1)).tolist()
    [0.25]
    >>> activation_backward("relu", np.array([-1.0, 0.0, 3.0]), np.full(3, 5.0)).tolist()
    [0.0, 0.0, 5.0]
    """
    check_choice(name, "activation", ACTIVATIONS)
    z = _floating(z)
    g = np.asarray(grad_out)
    if name == "sigmoid":
        sig = activation("sigmoid", z)
        d = sig * (1 - sig)
    elif name == "tanh":
        d = 1 - np.tanh(z) ** 2
    elif name == "relu":
        d = (z > 0).astype(z.dtype)
    elif name == "leaky_relu":
        d = np.where(z > 0, 1.0, _LEAKY_SLOPE).astype(z.dtype)
    elif name == "elu":
        d = np.where(z > 0, 1.0, _ELU_ALPHA * np.exp(np.minimum(z, 0))).astype(z.dtype)
    else:
        erf = np.vectorize(math.erf, otypes=[z.dtype])
        cdf = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        d = cdf + z * pdf
    return g * d


# -- loss ------------------------------------------------------------------------------------------------
def softmax(logits, axis: int = -1) -> np.ndarray:
    """Softmax of ``logits`` along ``axis``, computed stably (the largest logit is subtracted first).

    Parameters
    ----------
    logits : array_like
    axis : int, default -1
        The axis of the classes.

    Returns
    -------
    numpy.ndarray
        Probabilities of the shape of ``logits``, summing to 1 along ``axis``.

    Examples
    --------
    >>> softmax([[0.0, 0.0], [1000.0, 0.0]]).round(6).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    z = np.asarray(logits)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_cross_entropy(logits, labels) -> tuple[float, np.ndarray]:
    r"""Mean softmax cross-entropy of integer ``labels`` and its gradient with respect to ``logits``.

    :math:`\partial L / \partial z = (\operatorname{softmax}(z) - \text{onehot}(y)) / N`.

    Parameters
    ----------
    logits : numpy.ndarray of shape (N, classes)
    labels : numpy.ndarray of int, shape (N,)
        Class indices in ``[0, classes)``.

    Returns
    -------
    loss : float
        The mean cross-entropy over the N examples.
    grad : numpy.ndarray of shape (N, classes)
        Its gradient with respect to ``logits``.

    Raises
    ------
    ValueError
        If the shapes do not fit or a label is not a whole number in ``[0, classes)``.

    Examples
    --------
    >>> loss, grad = softmax_cross_entropy(np.zeros((1, 2)), np.array([1]))
    >>> round(loss, 6), grad.tolist()
    (0.693147, [[0.5, -0.5]])
    """
    z = _floating(logits)
    y = np.asarray(labels)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"Need logits (N, classes) and labels (N,); got {z.shape} and {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= z.shape[1])):
        raise ValueError(f"labels must be whole numbers in [0, {z.shape[1]}) for {z.shape[1]} classes.")
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = z.shape[0]
    loss = float(-log_probs[np.arange(n), y].mean())
    grad = np.exp(log_probs)
    grad[np.arange(n), y] -= 1.0
    return loss, grad / n


def sigmoid_loss(loss: str, z, y) -> tuple[np.ndarray, np.ndarray]:
    r"""A loss on a sigmoid output :math:`a = \sigma(z)`, per example, and its gradient with respect to ``z``.

    ``"mse"``: :math:`L = \tfrac12 (a - y)^2`, :math:`\partial L/\partial z = (a - y)\,\sigma'(z)`,
    which vanishes wherever the sigmoid saturates, right or wrong. ``"cross_entropy"``:
    :math:`L = -y \log a - (1 - y)\log(1 - a)`, :math:`\partial L/\partial z = a - y`: the
    sigmoid's derivative cancels. The cross-entropy is computed from ``z`` as
    :math:`\log(1 + e^z) - y z`, so it stays finite when :math:`a` rounds to 0 or 1.

    Parameters
    ----------
    loss : {"mse", "cross_entropy"}
        One of :data:`SIGMOID_LOSSES`.
    z : array_like
        Pre-activations (logits).
    y : array_like
        Targets in [0, 1], broadcast with ``z``.

    Returns
    -------
    loss : numpy.ndarray
        The loss of each element (not averaged).
    grad : numpy.ndarray
        :math:`\partial L/\partial z`, elementwise.

    Raises
    ------
    ValueError
        For a loss not in :data:`SIGMOID_LOSSES`, or a target outside [0, 1].

    Examples
    --------
    >>> z = np.array([0.0, 8.0])                      # the second output is confidently wrong
    >>> sigmoid_loss("mse", z, 0.0)[1].round(4).tolist()
    [0.125, 0.0003]
    >>> sigmoid_loss("cross_entropy", z, 0.0)[1].round(4).tolist()
    [0.5, 0.9997]
    """
    check_choice(loss, "loss", SIGMOID_LOSSES)
    z = _floating(z)
    y = np.asarray(y, dtype=z.dtype)
    if not np.all((y >= 0) & (y <= 1)):
        raise ValueError("Targets y must lie in [0, 1].")
    a = activation("sigmoid", z)
    if loss == "mse":
        return 0.5 * (a - y) ** 2, (a - y) * a * (1 - a)
    return np.logaddexp(0, z) - y * z, a - y


# -- gradient check --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`gradient_check`.

    Attributes
    ----------
    relative_errors : tuple of float
        For each parameter, :math:`\\lVert a - n \\rVert / (\\lVert a \\rVert + \\lVert n \\rVert)`
        between the analytic gradient ``a`` and the finite-difference one ``n`` (0 when both are 0).
    analytic, numeric : tuple of numpy.ndarray
    tolerance : float
    """

    relative_errors: tuple[float, ...]
    analytic: tuple[np.ndarray, ...]
    numeric: tuple[np.ndarray, ...]
    tolerance: float

    @property
    def passed(self) -> bool:
        """True when every relative error is at most ``tolerance``."""
        return all(e <= self.tolerance for e in self.relative_errors)

    @property
    def max_error(self) -> float:
        """The largest relative error."""
        return max(self.relative_errors)

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        errors = ", ".join(f"{e:.2e}" for e in self.relative_errors)
        return f"gradient check {verdict}: relative errors [{errors}] (tolerance {self.tolerance:g})"


def gradient_check(
    f: Callable[..., tuple[float, Sequence[np.ndarray]]],
    params: Sequence[np.ndarray],
    *,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
) -> GradientCheck:
    r"""Compare a hand-written gradient with central finite differences.

    Parameters
    ----------
    f : callable
        ``f(*params) -> (loss, grads)``: the scalar loss and the analytic gradient of the loss
        with respect to each parameter, in order and of the same shapes.
    params : sequence of numpy.ndarray
        Where to check. Use float64: finite differences in float32 are too coarse.
    eps : float
        Step of the central difference :math:`(f(p + \epsilon) - f(p - \epsilon)) / 2\epsilon`.
    tolerance : float
        Largest acceptable relative error.

    Returns
    -------
    GradientCheck
        ``passed`` is True when every parameter's relative error is within ``tolerance``.

    Raises
    ------
    ValueError
        If ``f`` returns gradients of the wrong number or shape, or a non-scalar or non-finite
        loss.

    Examples
    --------
    >>> w = np.array([1.0, -2.0])
    >>> gradient_check(lambda w: (float(w @ w), [2 * w]), [w]).passed
    True
    """
    params = [np.array(p, dtype=np.float64) for p in params]
    loss, grads = f(*params)
    if np.ndim(loss) != 0:
        raise ValueError(f"f must return a scalar loss; got an array of shape {np.shape(loss)}.")
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    if len(grads) != len(params):
        raise ValueError(f"f returned {len(grads)} gradients for {len(params)} parameters.")
    for i, (p, g) in enumerate(zip(params, grads)):
        if g.shape != p.shape:
            raise ValueError(f"Gradient {i} has shape {g.shape} but parameter {i} has shape {p.shape}.")
    if not np.isfinite(loss):
        raise ValueError(f"The loss at the given parameters is not finite ({loss}).")

    numeric = []
    for p in params:
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            plus = float(f(*params)[0])
            p[idx] = old - eps
            minus = float(f(*params)[0])
            p[idx] = old
            num[idx] = (plus - minus) / (2 * eps)
        numeric.append(num)
    errors = []
    for a, n in zip(grads, numeric):
        scale = np.linalg.norm(a) + np.linalg.norm(n)
        errors.append(0.0 if scale == 0 else float(np.linalg.norm(a - n) / scale))
    return GradientCheck(tuple(errors), tuple(grads), tuple(numeric), tolerance)


# -- a whole network by hand ---------------------------------------------------------------------------
@dataclass
class TinyCNN:
    """conv -> ReLU -> max-pool -> flatten -> dense -> softmax cross-entropy, trained by hand.

    Every gradient comes from the backward passes of this module, nothing from TensorFlow, so
    the network is a check on all of them at once: trained from the same weights, it must follow
    the same loss curve as the equivalent Keras model (see :meth:`from_keras`).

    Attributes
    ----------
    kernel : array (K, K, C_in, filters)
    bias : array (filters,)
    dense_w : array (features, classes)
    dense_b : array (classes,)
    pool : int
        Max-pooling window and stride.
    """

    kernel: np.ndarray
    bias: np.ndarray
    dense_w: np.ndarray
    dense_b: np.ndarray
    pool: int = 2

    @classmethod
    def from_keras(cls, model) -> "TinyCNN":
        """Copy the weights of a Keras ``Conv2D -> ReLU -> MaxPooling2D -> Flatten -> Dense`` model.

        Parameters
        ----------
        model : keras.Model
            One ``Conv2D`` (ReLU, stride 1, "valid" padding, with a bias), one square
            ``MaxPooling2D`` (stride equal to its size, "valid" padding) and one ``Dense`` that
            outputs logits (with a bias).

        Returns
        -------
        TinyCNN
            With float64 copies of the weights: training it leaves ``model`` unchanged.

        Raises
        ------
        ValueError
            If the model has other layers' counts or settings than these (the message lists what
            differs).
        """
        import keras

        convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
        denses = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
        pools = [l for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)]
        if len(convs) != 1 or len(denses) != 1 or len(pools) != 1:
            raise ValueError("from_keras expects exactly one Conv2D, one MaxPooling2D and one Dense layer.")
        c, p, d = convs[0], pools[0], denses[0]
        problems = []
        if tuple(c.strides) != (1, 1) or c.padding != "valid" or tuple(c.dilation_rate) != (1, 1):
            problems.append(f"Conv2D must have stride 1, 'valid' padding, no dilation (has {c.strides}, {c.padding!r})")
        if c.activation is not keras.activations.relu:
            problems.append(f"Conv2D must use activation='relu' (has {c.activation.__name__})")
        pool = tuple(p.pool_size)
        if pool[0] != pool[1] or tuple(p.strides) != pool or p.padding != "valid":
            problems.append(f"MaxPooling2D must be square with stride = pool size and 'valid' padding (has {pool}, {p.strides}, {p.padding!r})")
        if d.activation is not keras.activations.linear:
            problems.append(f"Dense must output logits (activation None, has {d.activation.__name__})")
        if not c.use_bias or not d.use_bias:
            problems.append("both Conv2D and Dense must use a bias")
        if problems:
            raise ValueError("TinyCNN cannot copy this model: " + "; ".join(problems) + ".")
        kernel, bias = (np.asarray(v, dtype=np.float64) for v in convs[0].get_weights())
        dense_w, dense_b = (np.asarray(v, dtype=np.float64) for v in denses[0].get_weights())
        return cls(kernel, bias, dense_w, dense_b, pool=int(pools[0].pool_size[0]))

    @property
    def params(self) -> list[np.ndarray]:
        """The weights, in the order of :meth:`loss_and_grads`'s gradients (the arrays themselves)."""
        return [self.kernel, self.bias, self.dense_w, self.dense_b]

    def logits(self, x) -> np.ndarray:
        """The forward pass.

        Parameters
        ----------
        x : array of shape (N, H, W, C_in)

        Returns
        -------
        numpy.ndarray of shape (N, classes)
        """
        return self._forward(x)[-1]

    def _forward(self, x):
        z = conv.conv2d(x, self.kernel, self.bias)
        a = np.maximum(z, 0)
        p = conv.max_pool2d(a, self.pool)
        flat = p.reshape(len(p), -1)
        return z, a, p, flat, flat @ self.dense_w + self.dense_b

    def loss_and_grads(self, x, y) -> tuple[float, list[np.ndarray]]:
        """Mean cross-entropy on ``(x, y)`` and its gradients for :attr:`params`, by backprop.

        Parameters
        ----------
        x : array of shape (N, H, W, C_in)
        y : array of int, shape (N,)
            Class indices.

        Returns
        -------
        loss : float
        grads : list of numpy.ndarray
            One per entry of :attr:`params`, of the same shapes.
        """
        z, a, p, flat, logits = self._forward(x)
        loss, g_logits = softmax_cross_entropy(logits, y)
        g_flat, g_dw, g_db = dense_backward(flat, self.dense_w, g_logits)
        g_p = g_flat.reshape(p.shape)
        g_a = max_pool2d_backward(a, g_p, self.pool)
        g_z = activation_backward("relu", z, g_a)
        _, g_k, g_b = conv2d_backward(x, self.kernel, g_z)
        return loss, [g_k, g_b, g_dw, g_db]

    def sgd_step(self, x, y, learning_rate: float) -> float:
        """One plain gradient-descent step on the batch, updating :attr:`params` in place.

        Parameters
        ----------
        x : array of shape (N, H, W, C_in)
        y : array of int, shape (N,)
        learning_rate : float

        Returns
        -------
        float
            The loss before the step.
        """
        loss, grads = self.loss_and_grads(x, y)
        for p, g in zip(self.params, grads):
            p -= learning_rate * g
        return loss


@dataclass
class TwoLayerNet:
    """x -> dense -> activation -> dense -> softmax cross-entropy, trained by hand-written backprop.

    Create one with :meth:`init`; :meth:`loss_and_grads` is the forward and backward pass written
    out layer by layer, and :meth:`train` runs full-batch gradient descent with it.

    Attributes
    ----------
    w1 : array (n_in, hidden)
    b1 : array (hidden,)
    w2 : array (hidden, n_out)
    b2 : array (n_out,)
    hidden_activation : str
        One of :data:`ACTIVATIONS`.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    hidden_activation: str = "tanh"

    @classmethod
    def init(cls, n_in: int, hidden: int, n_out: int, *, activation: str = "tanh", seed: int = 0) -> "TwoLayerNet":
        """Glorot-uniform weights and zero biases (Keras's defaults), seeded.

        Parameters
        ----------
        n_in, hidden, n_out : int
            The sizes of the input, the hidden layer and the output (the classes); at least 1.
        activation : str, default "tanh"
            The hidden layer's activation, one of :data:`ACTIVATIONS`.
        seed : int, default 0
            Seeds the weights (``numpy.random.default_rng``).

        Returns
        -------
        TwoLayerNet

        Raises
        ------
        ValueError
            For a layer size below 1 or an unknown activation.

        Examples
        --------
        >>> net = TwoLayerNet.init(2, 3, 2, seed=0)
        >>> [p.shape for p in net.params]
        [(2, 3), (3,), (3, 2), (2,)]
        """
        check_choice(activation, "activation", ACTIVATIONS)
        n_in = check_whole(n_in, "n_in")
        hidden = check_whole(hidden, "hidden")
        n_out = check_whole(n_out, "n_out")
        rng = np.random.default_rng(seed)

        def glorot(a: int, b: int) -> np.ndarray:
            limit = math.sqrt(6.0 / (a + b))
            return rng.uniform(-limit, limit, size=(a, b))

        return cls(glorot(n_in, hidden), np.zeros(hidden), glorot(hidden, n_out), np.zeros(n_out), activation)

    @property
    def params(self) -> list[np.ndarray]:
        """The weights, in the order of :meth:`loss_and_grads`'s gradients (the arrays themselves)."""
        return [self.w1, self.b1, self.w2, self.b2]

    def probabilities(self, x) -> np.ndarray:
        """Class probabilities: the forward pass followed by a softmax.

        Parameters
        ----------
        x : array of shape (N, n_in)

        Returns
        -------
        numpy.ndarray of shape (N, n_out)
            Each row sums to 1.
        """
        return softmax(activation(self.hidden_activation, np.asarray(x) @ self.w1 + self.b1) @ self.w2 + self.b2, axis=1)

    def loss_and_grads(self, x, y) -> tuple[float, list[np.ndarray]]:
        """Forward, then backward, one layer at a time.

        Parameters
        ----------
        x : array of shape (N, n_in)
        y : array of int, shape (N,)
            Class indices in ``[0, n_out)``.

        Returns
        -------
        loss : float
            The mean softmax cross-entropy.
        grads : list of numpy.ndarray
            Its gradients for :attr:`params`, in order and of the same shapes.
        """
        x = np.asarray(x, dtype=np.float64)
        z1 = x @ self.w1 + self.b1                          # forward: first dense layer
        a1 = activation(self.hidden_activation, z1)         # hidden activation
        z2 = a1 @ self.w2 + self.b2                         # second dense layer: logits
        loss, g_z2 = softmax_cross_entropy(z2, y)           # dL/dz2 = (softmax - onehot) / N
        g_a1, g_w2, g_b2 = dense_backward(a1, self.w2, g_z2)
        g_z1 = activation_backward(self.hidden_activation, z1, g_a1)
        _, g_w1, g_b1 = dense_backward(x, self.w1, g_z1)
        return loss, [g_w1, g_b1, g_w2, g_b2]

    def train(self, x, y, *, learning_rate: float, steps: int) -> np.ndarray:
        """Full-batch gradient descent; returns the loss before each step.

        Parameters
        ----------
        x : array (N, n_in)
        y : array (N,) of integer labels
        learning_rate : float
            Positive.
        steps : int
            The number of gradient-descent steps.

        Returns
        -------
        numpy.ndarray of shape (steps,)
            The loss before each step.

        Raises
        ------
        ValueError
            For a non-positive learning rate or step count, or when training diverges (the loss
            stops being finite or grows 10,000-fold); the message suggests a smaller learning rate.

        Examples
        --------
        >>> x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> net = TwoLayerNet.init(2, 4, 2, seed=0)
        >>> losses = net.train(x, np.array([0, 1, 1, 0]), learning_rate=0.5, steps=50)
        >>> bool(losses[-1] < losses[0])
        True
        """
        learning_rate = check_number(learning_rate, "learning_rate")
        steps = check_whole(steps, "steps")
        losses = np.empty(steps)
        for t in range(steps):
            loss, grads = self.loss_and_grads(x, y)
            # Diverged: not a number, or grown by orders of magnitude past where it started.
            if not math.isfinite(loss) or (t > 0 and loss > 1e4 * (losses[0] + 1.0)):
                raise ValueError(
                    f"Training diverged: the loss became {loss:.3g} at step {t} (it started at {losses[0]:.3g}); "
                    f"learning_rate={learning_rate} is too large, try a smaller one."
                )
            losses[t] = loss
            for p, g in zip(self.params, grads):
                p -= learning_rate * g
        return losses


def input_gradients(model, x, y) -> list[tuple[str, np.ndarray]]:
    """The gradient of the loss with respect to the input of every layer of a Keras model.

    Runs the layers one after another under one ``tf.GradientTape`` and asks for the gradient
    of the mean sparse cross-entropy (the model must output logits) with respect to each
    intermediate tensor.

    Parameters
    ----------
    model : keras.Sequential
    x : array (N, ...)
    y : array (N,) of integer labels

    Returns
    -------
    list of (layer name, gradient array)
        In layer order; each gradient has the shape of that layer's input.
    """
    import keras
    import tensorflow as tf

    h = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
    inputs = []
    with tf.GradientTape() as tape:
        tape.watch(h)
        for layer in model.layers:
            inputs.append((layer.name, h))
            h = layer(h)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, h)
    grads = tape.gradient(loss, [t for _, t in inputs])
    return [(name, g.numpy()) for (name, _), g in zip(inputs, grads)]
