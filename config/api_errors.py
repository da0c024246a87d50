"""Every answer under /api/ is JSON, whoever made it.

django-ninja answers its own errors in JSON (vectors/api.py), but some answers come from
elsewhere: Django's 404 for a URL no route matches (a malformed id, a trailing slash), a 405
for a method a route does not take, a 500 page, the CSRF middleware's 403. A shop front
parses JSON; it gets {"error": ...} with the same status and headers (Allow, Retry-After).
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse

API_PREFIX = "/api/"
# Headers of the original answer that still mean something on the JSON one.
KEPT_HEADERS = ("Allow", "Retry-After", "Vary", "Access-Control-Allow-Origin")


class JsonErrorsForApi:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        try:
            reason = HTTPStatus(response.status_code).phrase.lower()
        except ValueError:
            reason = "error"
        answer = JsonResponse({"error": reason}, status=response.status_code)
        for name in KEPT_HEADERS:
            if name in response:
                answer[name] = response[name]
        return answer
