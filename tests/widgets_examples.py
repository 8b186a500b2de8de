"""Examples shared by the tests of gradbook.widgets' explorer and static face (not a test file)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gradbook.widgets import Explorer, activation_dropdown, learning_rate_slider

ACTIVATION_SCALE = {"relu": 1.0, "tanh": 2.0, "sigmoid": 3.0}
BACKGROUND_Y = [0.0, 0.5, 1.0, 0.5, 0.0]


def draw(lr, activation="relu"):
    """A small figure: a constant background and a line that depends on the setting."""
    xs = np.arange(5.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=BACKGROUND_Y, name="background"))
    fig.add_trace(go.Scatter(x=xs, y=ACTIVATION_SCALE[activation] * lr * xs, name="line"))
    fig.update_layout(title={"text": f"lr={lr:g} activation={activation}"}, xaxis={"range": [0, 4 + lr]})
    return fig


def make_explorer(lr=0.05, activation="tanh", grid=None, draw_fn=draw):
    controls = {
        "lr": learning_rate_slider(lr, min=1e-3, max=1.0),
        "activation": activation_dropdown(activation, options=("relu", "tanh", "sigmoid")),
    }
    return Explorer(draw_fn, controls, grid=grid or {"lr": [0.01, 0.05, 0.2]}, title="Test <explorer>")


def y_of(trace):
    return np.asarray(trace.y, dtype=float)


class CountingDraw:
    """``draw`` that counts the settings it is asked for."""

    def __init__(self):
        self.calls = []

    def __call__(self, lr, activation="relu"):
        self.calls.append((lr, activation))
        return draw(lr, activation)
