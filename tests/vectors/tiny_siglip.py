"""Photos for the tests that search through the real model's code (the tiny towers and the
colour catalog they search are fixtures in conftest.py)."""

import io

from PIL import Image


def png(rgb, size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, rgb).save(buffer, format="PNG")
    return buffer.getvalue()
