"""Views of the test project: sync and async, bodies, forms, cookies, streaming, redirects."""

from __future__ import annotations

from collections.abc import AsyncIterator

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("django home", content_type="text/plain")


def sync_view(request: HttpRequest, n: int) -> JsonResponse:
    return JsonResponse({"n": n, "q": request.GET.getlist("q"), "method": request.method})


async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"async": True, "path": request.path, "full": request.get_full_path()})


@csrf_exempt
def echo(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(request.body, content_type="application/octet-stream")
    response["x-length"] = str(len(request.body))
    return response


@csrf_exempt
def form(request: HttpRequest) -> JsonResponse:
    return JsonResponse({k: request.POST.getlist(k) for k in request.POST})


def cookie(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(f"had {request.COOKIES.get('a')}", content_type="text/plain")
    response.set_cookie("b", "2", httponly=True)
    response["x-custom"] = "django"
    return response


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(20):
            yield f"part {i}\n".encode()

    return StreamingHttpResponse(parts(), content_type="text/plain")


def go(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/sync/1/?q=redirected")


def meta(request: HttpRequest) -> JsonResponse:
    keys = (
        "REQUEST_METHOD",
        "PATH_INFO",
        "SCRIPT_NAME",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "HTTP_X_ONE",
    )
    return JsonResponse({k: request.META.get(k) for k in keys} | {"scheme": request.scheme})


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("django view failed")
