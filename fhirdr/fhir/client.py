"""A FHIR client on azure-core's pipeline: token, retries and transport come from the Azure session."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from fhirdr.errors import AzureError

# Timeouts of every FHIR request (a probe passes its own): long enough for a large search, short enough that an
# unreachable region shows as a failure within seconds.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0


@dataclass
class FhirResponse:
    status: int
    body: Any
    headers: dict[str, str]
    elapsed_ms: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class FhirClient:
    """Reads and writes resources on https://{service}.azurehealthcareapis.com (or another cloud's suffix)."""

    def __init__(
        self,
        session: Any,
        service: str,
        retry: bool = True,
        base_url: str | None = None,
        audience: str | None = None,
        timeouts: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
    ) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline import policies

        # A self-hosted FHIR server has its own URL and audience; Azure API for FHIR's follow from its name.
        self.base_url = (base_url or f"https://{service}.{session.cloud.fhir_suffix}").rstrip("/")
        scope = f"{(audience or self.base_url).rstrip('/')}/.default"
        retry_policy = policies.RetryPolicy(**({"retry_total": 3} if retry else {"retry_total": 0}))
        pipeline_policies = [
            policies.HeadersPolicy({"Accept": "application/fhir+json"}),
            policies.UserAgentPolicy("fhirdr"),
            retry_policy,
            policies.BearerTokenCredentialPolicy(session.credential, scope),
            policies.NetworkTraceLoggingPolicy(),
        ]
        # (connect, read) seconds: azure-core's default read timeout is 300 s, which during an outage would
        # hang a write that long and distort a measured RTO.
        self.timeouts = timeouts
        self._client = PipelineClient(self.base_url, policies=pipeline_policies, transport=session.transport)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> FhirResponse:
        from azure.core.exceptions import (
            ServiceRequestError,
            ServiceRequestTimeoutError,
            ServiceResponseError,
            ServiceResponseTimeoutError,
        )
        from azure.core.rest import HttpRequest

        headers = {**({"Content-Type": "application/fhir+json"} if body is not None else {}), **(headers or {})}
        # A status or next-page URL the server gave is absolute.
        url = path if path.startswith("https://") else f"{self.base_url}/{path.lstrip('/')}"
        request = HttpRequest(
            method,
            url,
            params=params,
            headers=headers,
            content=json.dumps(body) if body is not None else None,
        )
        started = time.perf_counter()
        connect, read = self.timeouts
        try:
            response = self._client.send_request(request, connection_timeout=connect, read_timeout=read)
        except (ServiceRequestError, ServiceResponseError) as exc:
            # A timeout is a failure like a refused connection, and says so (the caller records it, never hangs).
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError) or _is_timeout(exc):
                return FhirResponse(0, {"error": f"timed out after {elapsed / 1000:.1f} s"}, {}, elapsed, True)
            return FhirResponse(0, {"error": str(exc).splitlines()[0]}, {}, elapsed)
        text = response.text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return FhirResponse(
            response.status_code, parsed, dict(response.headers), (time.perf_counter() - started) * 1000
        )

    def metadata(self) -> FhirResponse:
        return self.request("GET", "metadata")

    def create(self, resource: dict[str, Any]) -> FhirResponse:
        return self.request("POST", resource["resourceType"], resource)

    def read(self, rtype: str, rid: str) -> FhirResponse:
        return self.request("GET", f"{rtype}/{rid}")

    def delete(self, rtype: str, rid: str) -> FhirResponse:
        return self.request("DELETE", f"{rtype}/{rid}")

    def search(self, rtype: str, **params: str) -> FhirResponse:
        return self.request("GET", rtype, params=params)

    def count(self, rtype: str, tag: str | None = None) -> int:
        params = {"_summary": "count"}
        if tag:
            params["_tag"] = tag
        response = self.search(rtype, **params)
        if not response.ok:
            raise AzureError(f"FHIR search {rtype} failed with HTTP {response.status}")
        return int(response.body.get("total", 0))


def _is_timeout(exc: BaseException) -> bool:
    """requests' ConnectTimeout/ReadTimeout arrive wrapped in a plain ServiceRequestError/ServiceResponseError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError) or "timeout" in type(seen).__name__.lower():
            return True
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "inner_exception", None)
    return False
