"""AzureSession builds every SDK client fhirdr uses, for real Azure or for the simulated one."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from fhirdr.azure.clouds import Cloud, get_cloud
from fhirdr.errors import AzureConnectionError, AzureError

log = logging.getLogger(__name__)

T = TypeVar("T")

# azure-core already retries 408/429/5xx and connection errors; these settings only widen that.
# Nothing in fhirdr retries an SDK call again on top (that would multiply attempts).
RETRY_SETTINGS: dict[str, Any] = {
    "retry_total": 10,
    "retry_status": 6,
    "retry_backoff_factor": 0.8,
    "retry_backoff_max": 60,
}
LRO_TIMEOUT_SECONDS = 30 * 60  # FHIRDR_LRO_TIMEOUT (a duration) changes it


class AzureSession:
    """Credential, cloud, transport and clients for one subscription. Everything is created lazily."""

    def __init__(self, subscription: str, cloud: str = "AzureCloud", sim_path: Path | None = None) -> None:
        self.subscription = subscription
        self.cloud: Cloud = get_cloud(cloud)
        self.sim_path = sim_path
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()

    @property
    def simulated(self) -> bool:
        return self.sim_path is not None

    @cached_property
    def sim_store(self) -> Any:
        from fhirdr.sim.transport import open_world

        assert self.sim_path is not None
        return open_world(self.sim_path)

    @cached_property
    def transport(self) -> Any:
        if not self.simulated:
            return None
        from fhirdr.sim.transport import SimTransport

        return SimTransport(self.sim_store)

    @cached_property
    def credential(self) -> Any:
        if self.simulated:
            from fhirdr.sim.transport import SimCredential

            return SimCredential()
        from azure.identity import DefaultAzureCredential

        return OnceCredential(DefaultAzureCredential(authority=self.cloud.authority_host))

    def sign_in(self) -> None:
        """Get a token for Azure Resource Manager once, before reads fan out over threads: without a
        credential the command fails here in one line instead of once per reading thread."""
        if self.simulated:
            return
        with azure_errors("signing in to Azure"):
            self.credential.get_token(self.cloud.scope)

    def sleep(self, seconds: float) -> None:
        """Wait; in the sim, simulated time passes instead."""
        if self.simulated:
            self.transport.sleep(seconds)
        else:
            time.sleep(seconds)

    def now(self) -> float:
        return self.sim_store.now() if self.simulated else time.time()

    def _client(self, key: str, factory: Callable[[], T]) -> T:
        # Reads run on several threads (status); build each client once.
        with self._lock:
            if key not in self._clients:
                self._clients[key] = factory()
            return self._clients[key]

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self.cloud.resource_manager,
            "credential_scopes": [self.cloud.scope],
            **RETRY_SETTINGS,
        }
        if self.simulated:
            kwargs["transport"] = self.transport
            # Simulated time: each poll advances the world's clock by this much, no real waiting.
            kwargs["polling_interval"] = 5
        return kwargs

    def network(self) -> Any:
        def make() -> Any:
            from azure.mgmt.network import NetworkManagementClient

            return NetworkManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("network", make)

    def private_dns(self) -> Any:
        def make() -> Any:
            from azure.mgmt.privatedns import PrivateDnsManagementClient

            return PrivateDnsManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("privatedns", make)

    def front_door(self) -> Any:
        def make() -> Any:
            from azure.mgmt.cdn import CdnManagementClient

            return CdnManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("cdn", make)

    def healthcare(self) -> Any:
        def make() -> Any:
            from azure.mgmt.healthcareapis import HealthcareApisManagementClient

            return HealthcareApisManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("healthcare", make)

    def resources(self) -> Any:
        def make() -> Any:
            from azure.mgmt.resource.resources import ResourceManagementClient

            return ResourceManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("resources", make)

    def subscriptions(self) -> Any:
        def make() -> Any:
            from azure.mgmt.resource.subscriptions import SubscriptionClient

            return SubscriptionClient(self.credential, **self._kwargs())

        return self._client("subscriptions", make)

    def support(self) -> Any:
        def make() -> Any:
            from azure.mgmt.support import MicrosoftSupport

            return MicrosoftSupport(self.credential, self.subscription, **self._kwargs())

        return self._client("support", make)

    def cosmos(self) -> Any:
        def make() -> Any:
            from azure.mgmt.cosmosdb import CosmosDBManagementClient

            return CosmosDBManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("cosmos", make)

    def traffic_manager(self) -> Any:
        def make() -> Any:
            from azure.mgmt.trafficmanager import TrafficManagerManagementClient

            return TrafficManagerManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("trafficmanager", make)

    def monitor(self) -> Any:
        def make() -> Any:
            from azure.mgmt.monitor import MonitorManagementClient

            return MonitorManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("monitor", make)

    def key_vault(self) -> Any:
        def make() -> Any:
            from azure.mgmt.keyvault import KeyVaultManagementClient

            return KeyVaultManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("keyvault", make)

    def storage(self) -> Any:
        def make() -> Any:
            from azure.mgmt.storage import StorageManagementClient

            return StorageManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("storage", make)

    def authorization(self) -> Any:
        def make() -> Any:
            from azure.mgmt.authorization import AuthorizationManagementClient

            return AuthorizationManagementClient(self.credential, self.subscription, **self._kwargs())

        return self._client("authorization", make)

    def graph_object_id(self, app_id: str) -> str | None:
        """The object id of an application's service principal in this tenant (Microsoft Graph)."""
        from azure.core import PipelineClient
        from azure.core.pipeline import policies
        from azure.core.rest import HttpRequest

        def make() -> Any:
            scope = f"{self.cloud.graph}/.default"
            return PipelineClient(
                self.cloud.graph,
                transport=self.transport,
                policies=[policies.RetryPolicy(), policies.BearerTokenCredentialPolicy(self.credential, scope)],
            )

        client = self._client("graph", make)
        request = HttpRequest(
            "GET",
            f"{self.cloud.graph}/v1.0/servicePrincipals",
            params={"$filter": f"appId eq '{app_id}'", "$select": "id,appId,displayName"},
        )
        response = client.send_request(request)
        if response.status_code != 200:
            try:
                code = (response.json().get("error") or {}).get("code")
            except ValueError:
                code = None
            raise AzureError(
                f"Microsoft Graph answered HTTP {response.status_code} looking up application {app_id}",
                hint="the signed-in identity needs to read service principals (Application.Read.All)",
                code=code,
            )
        found = response.json().get("value") or []
        return found[0]["id"] if found else None


class OnceCredential:
    """A token credential shared by every client and thread of a session: one sign-in at a time, tokens kept
    per scope until shortly before they expire, and a first sign-in that failed remembered, so a machine
    without credentials tries the chain of DefaultAzureCredential once, not once per client and thread."""

    REFRESH_BEFORE_EXPIRY = 300

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._tokens: dict[tuple[Any, ...], Any] = {}
        self._failure: BaseException | None = None

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        key = ("token", scopes, tuple(sorted(kwargs.items())))
        return self._once(key, lambda: self._inner.get_token(*scopes, **kwargs))

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        key = ("info", scopes, tuple(sorted((options or {}).items())))
        if hasattr(self._inner, "get_token_info"):
            return self._once(key, lambda: self._inner.get_token_info(*scopes, options=options))
        return self._once(key, lambda: self._inner.get_token(*scopes))

    def _once(self, key: tuple[Any, ...], fetch: Callable[[], Any]) -> Any:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            token = self._tokens.get(key)
            if token is None or token.expires_on - self.REFRESH_BEFORE_EXPIRY <= time.time():
                try:
                    token = fetch()
                except Exception as exc:
                    # Never signed in: no credential works here, and asking again only runs the chain again.
                    # After a token was had, a failed refresh may pass, so it is asked again next time.
                    if not self._tokens:
                        self._failure = exc
                    raise
                self._tokens[key] = token
            return token

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def get_or_none(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call an SDK `get`; None when the resource (or its parent) does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return call(*args, **kwargs)
    except ResourceNotFoundError:
        return None


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent reads at the same time; results in the order given, the first error raised."""
    if len(calls) < 2:
        return [call() for call in calls]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="read") as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def lro_timeout() -> float:
    """How long fhirdr waits for one long-running operation: FHIRDR_LRO_TIMEOUT, or 30 minutes."""
    from fhirdr.durations import parse_duration

    text = os.environ.get("FHIRDR_LRO_TIMEOUT")
    return parse_duration(text, "FHIRDR_LRO_TIMEOUT") if text else LRO_TIMEOUT_SECONDS


def wait(poller: Any) -> Any:
    """Finish a long-running operation started with a `begin_*` call, or fail saying it still runs.

    azure-core's `LROPoller.result(timeout)` returns None when the time runs out, without raising:
    the operation is checked with `done()`, so a step is never reported applied while Azure still works.
    """
    from fhirdr.durations import describe

    timeout = lro_timeout()
    result = poller.result(timeout=timeout)
    if not poller.done():
        raise AzureError(
            f"the operation was still running after {describe(timeout)} (status {poller.status()})",
            hint="it goes on in Azure; resume the run once it has finished (FHIRDR_LRO_TIMEOUT waits longer)",
            code="OperationTimedOut",
        )
    return result


@contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """The one boundary where azure-core's exceptions become fhirdr errors (exit 3)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ClientAuthenticationError as exc:
        raise AzureError(
            f"authentication failed while {action}: {_first_line(exc)}",
            hint="sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, "
            "or use --sim for the simulated Azure",
        ) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise AzureConnectionError(
            f"could not reach Azure while {action}: {_first_line(exc)}",
            hint="check the network and run the command again; completed steps are kept",
        ) from exc
    except HttpResponseError as exc:
        code = getattr(getattr(exc, "error", None), "code", None)
        message = getattr(getattr(exc, "error", None), "message", None) or _first_line(exc)
        status = getattr(exc, "status_code", None)
        detail = f"{code}: {message}" if code else message
        raise AzureError(
            f"Azure refused {action} (HTTP {status}): {detail}",
            code=code,
            hint="run the command again to resume; completed steps are kept",
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
