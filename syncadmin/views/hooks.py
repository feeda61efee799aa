"""POST /hooks/zuora/ and POST /hooks/netsuite/: the change notifications of near-real-time sync.
The checks and their order are services/hooks.py's; this only speaks HTTP."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from syncadmin.models import Master
from syncadmin.services.hooks import HookRefused, hook_call_accept

logger = logging.getLogger(__name__)


def _hook(request: HttpRequest, system: str) -> JsonResponse:
    try:
        body = request.body
    except RequestDataTooBig:
        return JsonResponse({"error": "The call's body is too large."}, status=400)
    try:
        accepted = hook_call_accept(system=system, body=body, headers=request.headers)
    except HookRefused as refused:
        if refused.status == 401:
            # Names the sender's address, never a header's value.
            logger.warning(
                "%s hook refused a call from %s: %s",
                system,
                request.META.get("REMOTE_ADDR", "?"),
                refused.message,
            )
        response = JsonResponse({"error": refused.message}, status=refused.status)
        if refused.basic_auth:
            response["WWW-Authenticate"] = 'Basic realm="syncadmin hooks", charset="UTF-8"'
        return response
    event = accepted.event
    # 202 is the hooks' answer; a Zuora callout (Basic auth) counts anything but 200 as a
    # failure and would retry it, so it gets the same body with 200.
    return JsonResponse(
        {"queued": True, "event": event.pk, "record": event.record_key},
        status=200 if accepted.basic_auth else 202,
    )


@csrf_exempt
@require_POST
def zuora_hook(request: HttpRequest) -> JsonResponse:
    return _hook(request, Master.ZUORA)


@csrf_exempt
@require_POST
def netsuite_hook(request: HttpRequest) -> JsonResponse:
    return _hook(request, Master.NETSUITE)
