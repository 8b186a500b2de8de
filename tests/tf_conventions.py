"""TensorFlow's padding conventions, spelled out independently of gradbook for the tests."""


def tf_padding(padding):
    """The gradbook padding spec in tf.nn's spelling."""
    if isinstance(padding, str):
        return padding.upper()
    (t, b), (l, r) = padding
    return [[0, 0], [t, b], [l, r], [0, 0]]


def axis_padding(padding, axis):
    """The padding of one axis (0: height, 1: width): a mode name or (before, after)."""
    return padding if isinstance(padding, str) else padding[axis]


def fits(n, k, padding_axis):
    """Whether a window of k fits along an axis of n, worked out from TF's rules (not gradbook's)."""
    if padding_axis == "same":
        return True  # TF pads so that ceil(n / s) >= 1 windows start inside the input
    if padding_axis == "valid":
        return k <= n
    before, after = padding_axis
    return k <= n + before + after
