"""Blob URLs as the FHIR service writes them in manifests: https://{account}.blob.{suffix}/{container}/{name}."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from fhirdr.errors import AzureError


def blob_path(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    container, _, name = unquote(parts.path.lstrip("/")).partition("/")
    if ".blob." not in host or not container or not name:
        raise AzureError(f"the FHIR service named a file that is not a blob URL: {url}")
    return host.split(".", 1)[0], container, name
