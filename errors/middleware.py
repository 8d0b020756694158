"""The HTTP error boundary: a Django middleware for the JSON API."""
from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from errors.boundary import error_body, report_error
from errors.exceptions import MethodNotAllowedError, NotFoundError, VoiceBotError
from errors.recorder import get_recorder
from resilience.database import database_unavailable
from resilience.failures import DATABASE_ERRORS


def error_response(request: HttpRequest, exc: BaseException) -> JsonResponse:
    """Report ``exc`` once and answer with the protocol's error body."""
    match = getattr(request, "resolver_match", None)
    # The view name groups errors; a path (variable text) never does.
    where = match.view_name if match is not None and match.view_name else "unresolved"
    error, report = report_error(
        exc,
        transport="http",
        where=where,
        session_id=getattr(request, "voicebot_session_id", None),
        context={"method": request.method, "path": request.path},
        address=request.META.get("REMOTE_ADDR"),
    )
    response = JsonResponse(error_body(error, report.correlation_id), status=error.http_status)
    if error.retry_after is not None:
        response["Retry-After"] = str(int(error.retry_after + 0.999))
    if isinstance(error, MethodNotAllowedError):
        response["Allow"] = error.context.get("allow", "")
    # Logged once by report_error; keep django.request from logging it again.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


class ErrorBoundaryMiddleware:
    """Turns exceptions raised by API views into error bodies.

    Every VoiceBotError becomes its envelope with its HTTP status. Under
    ``/api/`` any other exception becomes ``internal_error`` (500) with no
    internals in the body; elsewhere (the admin, pages) Django's own handling
    stays in charge.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Built once per serving process: the moment to drain what an earlier
        # process left in the spill file.
        get_recorder().start()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, VoiceBotError):
            return error_response(request, exception)
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, Http404):
            return error_response(request, NotFoundError())
        if isinstance(exception, DATABASE_ERRORS):
            # A view's own ORM call found the database gone.
            return error_response(request, database_unavailable(exception))
        return error_response(request, exception)
