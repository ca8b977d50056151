"""ARM errors the simulated Azure answers with: one class per wire error code."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An ARM error response: status code plus `{"error": {"code", "message"}}`."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": []}}


class MissingApiVersion(ArmError):
    code = "MissingApiVersionParameter"

    def __init__(self) -> None:
        super().__init__("The api-version query parameter (?api-version=) is required for all requests.")


class InvalidResourceType(ArmError):
    status = 404
    code = "InvalidResourceType"


class SubscriptionNotFound(ArmError):
    status = 404
    code = "SubscriptionNotFound"

    def __init__(self, subscription: str) -> None:
        super().__init__(f"The subscription '{subscription}' could not be found.")


class ResourceGroupNotFound(ArmError):
    status = 404
    code = "ResourceGroupNotFound"

    def __init__(self, group: str) -> None:
        super().__init__(f"Resource group '{group}' could not be found.")


class ResourceNotFound(ArmError):
    status = 404
    code = "ResourceNotFound"

    def __init__(self, rtype: str, name: str, group: str) -> None:
        super().__init__(f"The Resource '{rtype}/{name}' under resource group '{group}' was not found.")


class NotFound(ArmError):
    """A child resource or operation that is not there (providers word these differently)."""

    status = 404
    code = "NotFound"


class InvalidRequestContent(ArmError):
    code = "InvalidRequestContent"


class PreconditionFailed(ArmError):
    status = 412
    code = "PreconditionFailed"


class Conflict(ArmError):
    status = 409
    code = "Conflict"


class MethodNotAllowed(ArmError):
    status = 405
    code = "MethodNotAllowed"
