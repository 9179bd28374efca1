"""Drawing the synthetic street scenes: scenery, distractors, signs, occluders and lighting.

A private part of :mod:`fcnlib.synthetic`, which documents the dataset. :func:`render_scene` draws one
scene from one random generator. Coordinates are output pixels (floats, x to the right, y down).
Shapes are drawn on a canvas ``SCALE`` times larger and box-downsampled, so the image gets
anti-aliased edges; the same draw calls paint class indices on a label canvas whose centre samples
give a crisp mask that lines up with the image.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SCALE = 3  # Supersampling factor; odd, so that every output pixel has a centre sample.
SIGN_SIZE_RANGE = (0.08, 0.45)  # Sign width as a fraction of the shorter image side.
SIZE_POWER = 0.4  # Sizes are low + (high - low) * u ** SIZE_POWER: below 1 favours large signs.
SIGN_COUNT_PROBABILITIES = [0.05, 0.2, 0.4, 0.35]  # Of 0, 1, 2 and 3 signs in a scene.


def _regular(n, phase):
    # The math module's scalar functions give the same vertices on every machine.
    angles = [phase + 2 * math.pi * k / n for k in range(n)]
    return np.array([[math.cos(a), math.sin(a)] for a in angles])


def _box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


# Unit shapes, centred on the origin with a radius of about one.
CIRCLE = _regular(32, 0.0)
OCTAGON = _regular(8, math.pi / 8)
TRIANGLE_UP = 1.3 * np.array([[0.0, -0.75], [0.866, 0.75], [-0.866, 0.75]])
TRIANGLE_DOWN = TRIANGLE_UP * [1.0, -1.0]
ARROW = np.array([[-0.12, 0.6], [-0.12, -0.1], [-0.4, -0.1], [0, -0.65], [0.4, -0.1], [0.12, -0.1],
                  [0.12, 0.6]])
STOP_TEXT = [_box(x, -0.2, x + 0.26, 0.2) for x in (-0.64, -0.32, 0.0, 0.32)]
EXCLAMATION = [_box(-0.07, -0.17, 0.07, 0.33), _box(-0.07, 0.41, 0.07, 0.55)]
CROSSING = [_box(-0.06, -0.22, 0.06, 0.52), _box(-0.26, 0.09, 0.26, 0.21)]
DIGITS = [_box(-0.36, -0.3, -0.04, 0.3), _box(0.04, -0.3, 0.36, 0.3)]
DIGIT_HOLES = [_box(-0.26, -0.17, -0.14, 0.17), _box(0.14, -0.17, 0.26, 0.17)]

RED, WHITE, BLUE = (200, 25, 30), (235, 235, 228), (25, 75, 170)
YELLOW, BLACK, GREY = (240, 195, 30), (25, 25, 25), (120, 122, 125)
# Colours of cars, boards and blobs: sign colours on purpose, so that colour alone is no cue.
DISTRACTOR_COLOURS = [RED, (160, 20, 30), BLUE, (40, 90, 200), YELLOW, (230, 120, 30), WHITE,
                      (40, 40, 45), (150, 155, 160), (30, 110, 60)]
FACADES = [(150, 62, 45), (175, 45, 40), (200, 180, 140), (130, 130, 135), (215, 210, 200),
           (70, 100, 140), (210, 180, 80), (90, 75, 70)]
SKIES = [((60, 115, 200), (170, 200, 235)), ((145, 150, 160), (205, 205, 210)),
         ((70, 80, 140), (235, 150, 95))]


def _affine(points, matrix, offset=(0.0, 0.0)):
    """Returns ``points @ matrix.T + offset``, written elementwise so every machine rounds alike."""
    return points[:, :1] * matrix[:, 0] + points[:, 1:] * matrix[:, 1] + offset


def _shrink(points, factor):
    centre = points.mean(axis=0)
    return centre + factor * (points - centre)


def _colour(rng, base, spread=20):
    """Returns ``base`` with each channel moved by up to ``spread``, as an RGB tuple."""
    shifts = rng.random(3).tolist()
    return tuple(min(255, max(0, int(b + spread * (2 * u - 1)))) for b, u in zip(base, shifts, strict=False))


def _lerp_along(grid, n, cell, axis):
    """Samples ``grid`` at positions 0, 1/cell, 2/cell ... along ``axis``, linearly interpolating."""
    position = np.arange(n, dtype=np.float32) / np.float32(cell)
    left = position.astype(np.int64)
    weight = position - left
    shape = [1, 1]
    shape[axis] = n
    weight = weight.reshape(shape)
    return grid.take(left, axis) * (1 - weight) + grid.take(left + 1, axis) * weight


def _noise(rng, h, w, cell):
    """Smooth value noise in [0, 1): random values every ``cell`` pixels, linear in between.

    Only elementwise NumPy arithmetic is used, so the result is the same on every machine.
    """
    grid = rng.random((h // cell + 2, w // cell + 2), dtype=np.float32)
    return _lerp_along(_lerp_along(grid, h, cell, 0), w, cell, 1)


class Canvas:
    """An RGB canvas and a label canvas, both ``SCALE`` times the output size."""

    def __init__(self, background):
        w, h = background.size
        self.image = background.resize((w * SCALE, h * SCALE), Image.Resampling.NEAREST)
        self.label = Image.new("L", self.image.size, 0)
        self.draw, self.label_draw = ImageDraw.Draw(self.image), ImageDraw.Draw(self.label)

    @staticmethod
    def _xy(points):
        # PIL fills canvas pixel j as if it spanned [j, j + 1), so scaling alone maps output pixel i
        # onto canvas pixels SCALE * i ... SCALE * i + SCALE - 1.
        return (np.asarray(points, dtype=float) * SCALE).ravel().tolist()

    def polygon(self, points, fill, label=None):
        """Fills a polygon; paints ``label`` on the label canvas too unless it is None."""
        xy = self._xy(points)
        self.draw.polygon(xy, fill=fill)
        if label is not None:
            self.label_draw.polygon(xy, fill=label)

    def shade(self, points, darkness):
        """Darkens a polygon by ``darkness`` (0-1), blending in black: a cast shadow."""
        xy = self._xy(points)
        ImageDraw.Draw(self.image, "RGBA").polygon(xy, fill=(0, 0, 0, int(255 * darkness)))

    def finish(self):
        """Returns the image (box-downsampled) and the labels (centre samples) at output size."""
        image = np.asarray(self.image.reduce(SCALE))
        centre = SCALE // 2
        return image, np.asarray(self.label)[centre::SCALE, centre::SCALE]


def _tint(rng, base, spread=20):
    """Like :func:`_colour`, as float32 of shape (3, 1, 1) for channel-first arrays."""
    return np.asarray(_colour(rng, base, spread), np.float32)[:, None, None]


def _scenery(rng, h, w):
    """Sky with clouds, buildings with windows or a field, trees, pavement and road.

    The arithmetic runs on channel-first arrays (3, h, w), where NumPy broadcasts a colour over
    whole rows instead of three values at a time. Returns a PIL image and the horizon and ground rows.
    """
    # Texture fields: fine detail (facades, leaves), grain (asphalt), coarse (clouds, canopies).
    detail = 0.8 + 0.3 * _noise(rng, h, w, max(2, h // 24))
    grain = 0.75 + 0.45 * rng.random((h, w), dtype=np.float32)
    coarse = _noise(rng, h, w, max(4, h // 6))
    horizon = int(h * rng.uniform(0.3, 0.6))
    ground = min(h - 2, horizon + int(h * rng.uniform(0.03, 0.12)))
    top, bottom = SKIES[rng.integers(len(SKIES))]
    t = np.arange(ground, dtype=np.float32)[:, None] / np.float32(ground)
    zenith = _tint(rng, top)
    sky = zenith + t * (_tint(rng, bottom) - zenith)
    cloud = np.clip((coarse[:ground] - np.float32(rng.uniform(0.45, 0.8))) * 3, 0, 1)
    image = np.empty((3, h, w), np.float32)
    np.add(sky, cloud * (225 - sky), out=image[:, :ground])
    if rng.random() < 0.7:  # A street of buildings; otherwise open country.
        x = int(-rng.uniform(0, 0.2) * w)
        while x < w:
            bw, x0 = int(w * rng.uniform(0.12, 0.4)) + 2, max(x, 0)
            y0 = max(0, int(horizon - h * rng.uniform(0.05, 0.45)))
            facade = image[:, y0:ground, x0:x + bw]
            wall = _tint(rng, FACADES[rng.integers(len(FACADES))])
            np.multiply(detail[y0:ground, x0:x + bw], wall, out=facade)
            period = max(3, int(h * rng.uniform(0.05, 0.12)))
            rows = (np.arange(facade.shape[1]) % period) >= period // 2
            cols = ((np.arange(facade.shape[2]) + x0 - x) % period) >= period // 3
            glass = (50, 65, 85) if rng.random() < 0.6 else (140, 165, 190)
            np.copyto(facade, _tint(rng, glass), where=np.outer(rows, cols))
            x += bw
    else:
        np.multiply(detail[horizon:ground], _tint(rng, (80, 120, 50), 25), out=image[:, horizon:ground])
    np.multiply(grain[ground:], _tint(rng, (95, 95, 98), 15), out=image[:, ground:])
    kerb = ground + max(1, int(h * rng.uniform(0.03, 0.1)))
    np.multiply(detail[ground:kerb], _tint(rng, (165, 160, 150)), out=image[:, ground:kerb])
    lane = int(kerb + (h - kerb) * rng.uniform(0.3, 0.7))
    dashes = (np.arange(w) % max(8, w // 5)) < max(4, w // 10)
    image[:, lane:lane + max(1, h // 48), dashes] = _tint(rng, WHITE if rng.random() < 0.7 else YELLOW)
    for _ in range(rng.integers(0, 3)):  # Trees: a noisy canopy mask over a trunk.
        tx, ty = rng.uniform(0, w), rng.uniform(horizon - 0.2 * h, ground)
        rr = h * rng.uniform(0.08, 0.25)
        trunk = image[:, max(0, int(ty)):ground + 1, max(0, int(tx - rr / 8)):int(tx + rr / 8) + 1]
        trunk[:] = _tint(rng, (80, 60, 40))
        y0, x0 = max(0, int(ty - rr)), max(0, int(tx - rr))
        y1, x1 = min(h, max(y0, int(ty + rr))), min(w, max(x0, int(tx + rr)))
        dy = (np.arange(y0, y1, dtype=np.float32) - ty) / rr
        dx = (np.arange(x0, x1, dtype=np.float32) - tx) / rr
        inside = 0.8 * coarse[y0:y1, x0:x1] - dy[:, None] ** 2 - dx**2 > -0.4
        leaves = _tint(rng, (60, 110, 45), 25)[:, 0] * (detail[y0:y1, x0:x1][inside] * 2 - 1.2)
        image[:, y0:y1, x0:x1][:, inside] = leaves
    channels = np.clip(image, 0, 255, out=image).astype(np.uint8)
    return Image.merge("RGB", [Image.fromarray(channel) for channel in channels]), horizon, ground


def _distractors(canvas, rng, h, w, horizon, ground):
    """Cars, boards, discs, blobs and people in the sign colours but without a sign's pattern."""
    for _ in range(rng.integers(0, 3)):
        cw = min(h, w) * rng.uniform(0.2, 0.5)
        x0, y1 = rng.uniform(-0.2 * w, w - 0.3 * cw), rng.uniform(ground + 0.1 * h, h * 1.05)
        ch, body = cw * 0.3, _colour(rng, DISTRACTOR_COLOURS[rng.integers(len(DISTRACTOR_COLOURS))])
        canvas.polygon([[x0 + 0.2 * cw, y1 - ch], [x0 + 0.3 * cw, y1 - 1.8 * ch],
                        [x0 + 0.75 * cw, y1 - 1.8 * ch], [x0 + 0.85 * cw, y1 - ch]], body)
        window = _box(x0 + 0.33 * cw, y1 - 1.65 * ch, x0 + 0.72 * cw, y1 - ch)
        canvas.polygon(window, _colour(rng, (60, 75, 95)))
        canvas.polygon(_box(x0, y1 - ch, x0 + cw, y1 - 0.25 * ch), body)
        for wx in (0.22, 0.78):
            canvas.polygon([x0 + wx * cw, y1 - 0.3 * ch] + 0.22 * cw * CIRCLE, BLACK)
    for _ in range(rng.integers(2, 7)):
        kind, size = rng.integers(4), min(h, w) * rng.uniform(0.04, 0.2)
        x, y = rng.uniform(0, w), rng.uniform(0, ground + 0.1 * h)
        colour = _colour(rng, DISTRACTOR_COLOURS[rng.integers(6)])
        if kind == 0:  # A plain disc: a balloon, a light, a logo.
            canvas.polygon([x, y] + size * CIRCLE * [rng.uniform(0.7, 1), 1], colour)
        elif kind == 1:  # A shop board with lines of text.
            canvas.polygon(_box(x - 1.5 * size, y - 0.5 * size, x + 1.5 * size, y + 0.5 * size), colour)
            ink = _colour(rng, WHITE if rng.random() < 0.7 else BLACK)
            canvas.polygon(_box(x - 1.2 * size, y - 0.2 * size, x + 1.2 * size, y + 0.1 * size), ink)
        elif kind == 2:  # A blob: an umbrella, flowers, a bag.
            radius = size * rng.uniform(0.6, 1.2, 9)[:, None]
            canvas.polygon([x, y] + radius * _regular(9, rng.uniform(0, 1)), colour)
        else:  # A person with coloured clothes.
            canvas.polygon(_box(x - 0.3 * size, y - size, x + 0.3 * size, y + 0.6 * size), colour)
            legs = _box(x - 0.25 * size, y + 0.6 * size, x + 0.25 * size, y + 1.8 * size)
            canvas.polygon(legs, _colour(rng, (50, 50, 70)))
            canvas.polygon([x, y - 1.3 * size] + 0.3 * size * CIRCLE, _colour(rng, (200, 160, 130), 40))


def _sign_layers(rng, kind):
    """The sign's shapes (unit coordinates) and colours; the first is its silhouette."""
    red, white = _colour(rng, RED, 25), _colour(rng, WHITE, 15)
    if kind == 1:  # Stop: a red octagon in a thin white rim, a white text bar.
        return [(OCTAGON, white), (0.9 * OCTAGON, red)] + [(box, white) for box in STOP_TEXT]
    if kind in (2, 3):  # Give way (pointing down) and warning (up): red border, light inside.
        outline = TRIANGLE_DOWN if kind == 2 else TRIANGLE_UP
        inside = white if kind == 2 or rng.random() < 0.6 else _colour(rng, YELLOW)
        layers = [(outline, red), (_shrink(outline, 0.6), inside)]
        if kind == 3:
            glyph = EXCLAMATION if rng.random() < 0.5 else CROSSING
            layers += [(box, BLACK) for box in glyph]
        return layers
    if kind == 4:  # Prohibitory: red ring, white inside, sometimes a speed limit.
        layers = [(CIRCLE, red), (0.74 * CIRCLE, white)]
        if rng.random() < 0.5:
            layers += [(box, BLACK) for box in DIGITS] + [(box, white) for box in DIGIT_HOLES]
        return layers
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][rng.integers(4)]  # Mandatory: blue disc, white arrow.
    arrow = _affine(ARROW, np.array([[c, -s], [s, c]]))
    return [(CIRCLE, white), (0.92 * CIRCLE, _colour(rng, BLUE, 25)), (arrow, white)]


def _place_signs(rng, h, w):
    """Picks 0-3 signs as (class, x, y, radius) whose circumscribed circles keep a pixel apart."""
    side, signs, reach = min(h, w), [], {1: 1.0, 2: 1.5, 3: 1.5, 4: 1.0, 5: 1.0}
    low, high = SIGN_SIZE_RANGE
    for _ in range(rng.choice(4, p=SIGN_COUNT_PROBABILITIES)):
        kind = int(rng.integers(1, 6))
        for _attempt in range(10):
            # Larger signs are favoured, so that signs cover about a seventh of the pixels.
            radius = side * (low + (high - low) * rng.random() ** SIZE_POWER) / 2
            x, y = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.85 * h)
            if all(math.hypot(x - sx, y - sy) > reach[kind] * radius + reach[k] * sr + 1.5
                   for k, sx, sy, sr in signs):
                signs.append((kind, x, y, radius))
                break
    return signs


def _occlude(canvas, rng, h, w, x, y, r):
    """Draws something in front of part of a sign: a pole, leaves, a van or a branch."""
    kind = rng.integers(4)
    if kind == 0:
        px, half = x + r * rng.uniform(-0.8, 0.8), max(0.6, r * rng.uniform(0.08, 0.2))
        top = y - 1.5 * r if rng.random() < 0.5 else -1
        canvas.polygon(_box(px - half, top, px + half, h + 1), _colour(rng, GREY, 40), 0)
    elif kind == 1:
        angle = rng.uniform(0, 2 * math.pi)
        cx, cy = x + 1.1 * r * math.cos(angle), y + 1.1 * r * math.sin(angle)
        for _ in range(3):
            leaf = [cx, cy] + r * rng.uniform(-0.35, 0.35, 2) + r * rng.uniform(0.2, 0.45) * CIRCLE
            canvas.polygon(leaf, _colour(rng, (55, 105, 40), 25), 0)
    elif kind == 2:
        top, left = y + r * rng.uniform(0.1, 0.7), x + r * rng.uniform(-2.0, 0.2)
        colour = _colour(rng, DISTRACTOR_COLOURS[rng.integers(len(DISTRACTOR_COLOURS))])
        canvas.polygon(_box(left, top, left + r * rng.uniform(1.2, 2.5), h + 1), colour, 0)
    else:
        angle, half = rng.uniform(0, math.pi), max(0.5, r * rng.uniform(0.04, 0.1))
        c, s = math.cos(angle), math.sin(angle)
        branch = _affine(_box(-2, -half / r, 2, half / r), r * np.array([[c, -s], [s, c]]), (x, y))
        shift = r * rng.uniform(-0.6, 0.6) * np.array([-s, c])
        canvas.polygon(branch + shift, _colour(rng, (70, 55, 40)), 0)


def _soften(x, amount):
    """Blurs the first two axes with the kernel (amount, 1 - 2 amount, amount); outer pixels stay."""
    a, b = np.float32(amount), np.float32(1 - 2 * amount)
    y = x.copy()
    y[1:-1] = (x[:-2] + x[2:]) * a + x[1:-1] * b
    z = y.copy()
    z[:, 1:-1] = (y[:, :-2] + y[:, 2:]) * a + y[:, 1:-1] * b
    return z


def _lighting(rng, image):
    """Blur, brightness, contrast, a colour cast and sensor noise."""
    h, w = image.shape[:2]
    out = image.astype(np.float32)
    if rng.random() < 0.3:  # Out of focus: a blur of standard deviation 0.45-0.77 pixels.
        out = _soften(out, rng.uniform(0.1, 0.3))
    # Brightness times a colour cast, then contrast about mid-grey. The per-channel factors are
    # tiled along a row, so that NumPy multiplies whole rows rather than three values at a time.
    contrast = rng.uniform(0.7, 1.2)
    factors = (rng.uniform(0.6, 1.3) * contrast * rng.uniform(0.85, 1.15, 3)).astype(np.float32)
    out.reshape(h, w * 3)[:] *= np.tile(factors, w)
    # Sensor noise, uniform (cheaper to draw than Gaussian), standard deviation 1-7 grey levels.
    spread = rng.uniform(1, 7) * 12**0.5
    noise = rng.random((h, w, 3), dtype=np.float32)
    noise *= np.float32(spread)
    noise += np.float32(128.5 - 128 * contrast - spread / 2)  # The 0.5 rounds in astype below.
    out += noise
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def render_scene(rng, h, w):
    """Draws one scene; returns the image (uint8 (h, w, 3)) and class indices (uint8 (h, w), no void)."""
    background, horizon, ground = _scenery(rng, h, w)
    canvas = Canvas(background)
    _distractors(canvas, rng, h, w, horizon, ground)
    signs = sorted(_place_signs(rng, h, w), key=lambda sign: sign[3])
    for _, x, y, r in signs:
        if rng.random() < 0.6:  # A pole under the sign, behind every sign.
            half = max(0.6, 0.08 * r)
            canvas.polygon(_box(x - half, y, x + half, h + 1), _colour(rng, GREY, 30))
    for kind, x, y, r in signs:
        angle, squash = rng.uniform(-0.15, 0.15), rng.uniform(0.8, 1.0)
        c, s = math.cos(angle), math.sin(angle)
        affine = r * np.array([[c * squash, -s], [s * squash, c]])
        for index, (shape, colour) in enumerate(_sign_layers(rng, kind)):
            canvas.polygon(_affine(shape, affine, (x, y)), colour, kind if index == 0 else None)
    for _, x, y, r in signs:
        if rng.random() < 0.45:
            _occlude(canvas, rng, h, w, x, y, r)
    if rng.random() < 0.4:  # A shadow cast across the scene, signs included.
        canvas.shade(rng.uniform(-0.2, 1.2, (4, 2)) * [w, h], rng.uniform(0.25, 0.55))
    image, labels = canvas.finish()
    return _lighting(rng, image), labels
