"""gradbook: the helpers behind an interactive textbook on how convolutional networks learn.

The package is split into small modules named after the concept they serve:

``data``         offline-first dataset loading (digits, Fashion-MNIST, MNIST, CIFAR-10)
``descent``      gradient descent, momentum and Adam on 2-D surfaces, in NumPy
``conv``         convolution and pooling in NumPy, with TensorFlow's layouts and padding
``backprop``     backward passes in NumPy, a gradient check, networks trained by hand
``models``       deep MLP and CNN builders for experiments on depth
``diagnostics``  per-layer gradient norms, activation statistics, a gradient-history callback
``bench``        one fixed deep network on which the remedies for vanishing gradients are measured
``hardware``     which device TensorFlow trains on
``training``     a seeded ``model.fit`` wrapper that stops cleanly on divergence
``plots``        the book's figure style (matplotlib and Plotly)
``widgets``      explorations with two faces: live ipywidgets and a static Plotly figure
``validation``   the argument checks the modules share

Importing :mod:`gradbook` itself is cheap; TensorFlow is imported only by the modules that
need it.
"""

__version__ = "0.1.0"
