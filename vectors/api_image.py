"""Reading a photo search's request: a multipart upload (field `image`) or JSON naming an
`image_url`, with the search's filters.

The photo is read into memory only, bounded before a byte of it is read: a body larger than
its Content-Length allows is refused with 413 at once, and no upload is spooled to a
temporary file (Django would, above FILE_UPLOAD_MAX_MEMORY_SIZE). Nothing here logs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParserError

from vectors.api_schemas import PhotoQuery, PhotoUrlQuery
from vectors.embedders.fetch import FetchLimits

# A photo as large as a product image may be; the multipart body around it gets a little more.
MAX_IMAGE_BYTES = FetchLimits.max_bytes
MAX_MULTIPART_BYTES = MAX_IMAGE_BYTES + 64 * 1024
MAX_JSON_BYTES = 16 * 1024


class ImageRequestRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImageRequest:
    query: PhotoQuery | PhotoUrlQuery
    data: bytes | None  # the uploaded photo, or None when the query names image_url


class InMemoryOnly(MemoryFileUploadHandler):
    """Keeps the upload in memory whatever its size: the body was bounded before parsing."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True


def read_image_request(request) -> ImageRequest:
    """The photo search's query and photo. Raises ImageRequestRefused (413 too large, 411
    no length, 415 another content type, 400 no photo) or pydantic's ValidationError for
    bad filters."""
    content_type = request.content_type or ""
    length = _content_length(request)
    if content_type == "multipart/form-data":
        if length > MAX_MULTIPART_BYTES:
            raise ImageRequestRefused(
                413, f"the photo must be at most {MAX_IMAGE_BYTES // 2**20} MB"
            )
        request.upload_handlers = [InMemoryOnly(request)]
        try:
            files, form = request.FILES, request.POST
        except RequestDataTooBig:  # form fields beyond DATA_UPLOAD_MAX_MEMORY_SIZE
            raise ImageRequestRefused(413, "the form fields are too large") from None
        except (MultiPartParserError, SuspiciousOperation):
            raise ImageRequestRefused(400, "the multipart body cannot be read") from None
        upload = files.get("image")
        if upload is None:
            raise ImageRequestRefused(400, "send the photo as the multipart field `image`")
        if upload.size > MAX_IMAGE_BYTES:
            raise ImageRequestRefused(
                413, f"the photo must be at most {MAX_IMAGE_BYTES // 2**20} MB"
            )
        fields = {**request.GET.dict(), **form.dict()}
        return ImageRequest(query=PhotoQuery.model_validate(fields), data=upload.read())
    if content_type == "application/json":
        if length > MAX_JSON_BYTES:
            raise ImageRequestRefused(413, f"a JSON query must be at most {MAX_JSON_BYTES} bytes")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise ImageRequestRefused(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ImageRequestRefused(400, "the body must be a JSON object")
        return ImageRequest(query=PhotoUrlQuery.model_validate(body), data=None)
    raise ImageRequestRefused(
        415, "send the photo as multipart/form-data (field `image`) or JSON with `image_url`"
    )


def _content_length(request) -> int:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        raise ImageRequestRefused(411, "the request must say its Content-Length")
    return length


def image_request_body() -> dict:
    """The operation's request body in the OpenAPI document: both ways to send a photo."""
    filters = PhotoQuery.model_json_schema()
    upload = {
        **filters,
        "properties": {
            "image": {"type": "string", "format": "binary"},
            **filters.get("properties", {}),
        },
        "required": ["image"],
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": upload},
            "application/json": {"schema": PhotoUrlQuery.model_json_schema()},
        },
    }
