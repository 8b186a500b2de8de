"""gradbook: the helpers behind an interactive textbook on how convolutional networks learn.

The package is split into small modules named after the concept they serve:

``data``         offline-first dataset loading (digits, Fashion-MNIST, MNIST, CIFAR-10), tf.data pipelines
``descent``      gradient descent, momentum and Adam on 2-D surfaces, in NumPy
``conv``         convolution and pooling in NumPy, with TensorFlow's layouts and padding
``backprop``     backward passes in NumPy, a gradient check, networks trained by hand
``models``       deep MLP and CNN builders for experiments on depth
``diagnostics``  per-layer gradient norms, activation statistics, a gradient-history callback
``bench``        one fixed deep network on which the remedies for vanishing gradients are measured
``hardware``     which device TensorFlow trains on, the batch size and precision to use there
``optimizers``   the optimizer factory and the warm-up + cosine learning-rate schedules
``training``     a seeded ``model.fit`` wrapper that stops cleanly on divergence
``listings``     the source documents' Keras CNNs, as written and corrected
``evaluation``   accuracy, confusion matrix, per-class accuracy, confident mistakes
``plots``        the book's figure style (matplotlib and Plotly)
``tables``       the pages' HTML tables, every cell escaped
``widgets``      explorations with two faces: live ipywidgets and a static Plotly figure
``validation``   the argument checks the modules share
``execution``    headless notebook runs that never wait out a lost reply
``classroom``    nbgrader assignments: release and grade (the ``classroom`` extra)

Importing :mod:`gradbook` itself is cheap; TensorFlow is imported only by the modules that
need it.
"""

__version__ = "0.1.0"
