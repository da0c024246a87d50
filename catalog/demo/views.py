"""Placeholder product images for the demo catalog, so that it looks right offline."""

from __future__ import annotations

import hashlib
import re

from django.http import Http404, HttpResponse
from django.utils.html import escape
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from catalog.demo import LIGHT_COLOURS, SWATCHES

_NAME = re.compile(r"[a-z0-9-]{1,80}")


@require_safe
@cache_control(max_age=86400, public=True)
def demo_image(request, name: str):
    if not _NAME.fullmatch(name):
        raise Http404("no such image")
    colour = name.split("-")[0]
    fill = SWATCHES.get(colour) or f"#{hashlib.md5(name.encode()).hexdigest()[:6]}"  # noqa: S324
    ink = "#222222" if colour in LIGHT_COLOURS else "#f8f8f8"
    label = escape(" ".join(name.split("-")[1:]).title()[:24])
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240">'
        f'<rect width="240" height="240" fill="{fill}"/>'
        f'<text x="120" y="128" font-family="sans-serif" font-size="18" fill="{ink}" '
        f'text-anchor="middle">{label}</text></svg>'
    )
    return HttpResponse(svg, content_type="image/svg+xml")
