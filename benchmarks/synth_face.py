"""A parametric grey-scale face whose expression is set by brows, eyes and mouth.

Expressions follow the prototypical facial actions of Ekman & Friesen's FACS descriptions
(Ekman, Friesen & Hager 2002): happiness raises the lip corners (AU12) and narrows the eyes
(AU6); sadness lowers the lip corners (AU15) and raises the inner brows (AU1); anger lowers
and draws together the brows (AU4) and presses the lips (AU23); surprise raises the brows
(AU1+2), widens the eyes (AU5) and drops the jaw (AU26); fear raises and draws together the
brows (AU1+2+4), widens the eyes and stretches the lips (AU20); disgust wrinkles the nose
and raises the upper lip (AU9/10), drawn as a narrowed, asymmetric mouth and lowered brows.

Each image is rendered from a parameter vector; per image there is expression intensity,
identity (face width, feature positions), pose (shift, scale), lighting and pixel noise, so
the expression classes overlap at low intensity. Rendering is vectorised over images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

EXPRESSIONS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear")

# brow_raise, brow_inner (inner-corner raise; negative = drawn down/together), eye_open,
# mouth_curve (positive = smile), mouth_open, mouth_width, asymmetry
_PROTOTYPES = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # neutral
        [0.1, 0.0, -0.35, 1.0, 0.25, 0.3, 0.0],  # happiness
        [1.0, 0.3, 0.8, 0.0, 1.0, -0.2, 0.0],  # surprise
        [-0.1, 0.8, -0.25, -0.9, 0.0, -0.1, 0.0],  # sadness
        [-0.8, -0.8, 0.15, -0.3, -0.2, -0.25, 0.0],  # anger
        [-0.5, -0.3, -0.4, -0.4, 0.15, -0.3, 0.8],  # disgust
        [0.8, 0.7, 0.7, -0.3, 0.5, 0.4, 0.0],  # fear
    ]
)


def render(
    expression: NDArray[np.integer[Any]],
    rng: np.random.Generator,
    *,
    size: int = 32,
    intensity: NDArray[np.float64] | None = None,
    identity: NDArray[np.float64] | None = None,
    noise: float = 0.05,
) -> NDArray[np.float32]:
    """Render faces: ``expression`` holds class indices into :data:`EXPRESSIONS`.

    Returns float32 images ``(n, size, size)`` in ``[0, 1]``. ``intensity`` (n,) scales the
    expression (default drawn from U(0.4, 1.1)); ``identity`` (n, 3) fixes face width and
    feature offsets (default drawn per image); pose, lighting and noise are drawn per image.
    """
    n: int = expression.shape[0]
    if intensity is None:
        intensity = rng.uniform(0.4, 1.1, n)
    if identity is None:
        identity = rng.normal(0, 1, (n, 3))
    p = _PROTOTYPES[expression] * intensity[:, None] + rng.normal(0, 0.12, (n, 7))
    brow, inner, eye, curve, mouth_open, width, asym = (p[:, i][:, None, None] for i in range(7))
    face_w = 0.36 * (1 + 0.06 * identity[:, 0])[:, None, None]
    eye_y = -0.12 + 0.02 * identity[:, 1][:, None, None]
    mouth_y = 0.22 + 0.02 * identity[:, 2][:, None, None]
    # pose: shift and scale, then a pixel grid in face coordinates
    shift = rng.normal(0, 0.03, (n, 2))
    scale = rng.normal(1.0, 0.05, n)
    lin = np.linspace(-0.5, 0.5, size)
    yy, xx = np.meshgrid(lin, lin, indexing="ij")
    x = (xx[None] - shift[:, 0, None, None]) / scale[:, None, None]
    y = (yy[None] - shift[:, 1, None, None]) / scale[:, None, None]

    img = np.full((n, size, size), 0.15)
    skin = (x / face_w) ** 2 + (y / 0.46) ** 2 < 1
    img = np.where(skin, 0.7, img)
    ax = np.abs(x)
    # eyes: ellipses whose height follows eye_open
    eye_h = (0.04 * (1 + 1.0 * eye)).clip(0.008, 0.1)
    eyes = ((ax - 0.13) / 0.06) ** 2 + ((y - eye_y) / eye_h) ** 2 < 1
    img = np.where(eyes, 0.1, img)
    # brows: thick line segments above the eyes; inner ends move with brow_inner
    brow_base = eye_y - 0.09 - 0.07 * brow
    brow_y = brow_base - 0.09 * inner * (0.21 - ax) / 0.13
    brows = (np.abs(y - brow_y) < 0.02) & (ax > 0.06) & (ax < 0.21)
    img = np.where(brows, 0.05, img)
    # mouth: a parabola bent by mouth_curve, opened by mouth_open, skewed by asymmetry
    half_w = 0.11 * (1 + 0.35 * width)
    u = x / half_w
    centre = mouth_y - 0.09 * curve * u**2 + 0.04 * asym * u
    thickness = 0.018 + 0.06 * mouth_open.clip(0, None) * (1 - u**2)
    mouth = (np.abs(u) < 1) & (np.abs(y - centre) < thickness)
    img = np.where(mouth, 0.08, img)
    # lighting gradient and noise
    light = rng.normal(0, 0.1, (n, 1, 1)) * xx[None] + rng.normal(0, 0.05, (n, 1, 1))
    img = img + light + rng.normal(0, noise, img.shape)
    return img.clip(0, 1).astype(np.float32)
