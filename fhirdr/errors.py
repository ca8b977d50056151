"""Errors raised by fhirdr's core; the CLI maps each to an exit code and a message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_AZURE = 3
EXIT_SAFETY = 4
EXIT_INTERRUPTED = 130


class FhirdrError(Exception):
    """Base of every error fhirdr raises on purpose. `hint` tells the user what to do next."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInputError(FhirdrError):
    """The user asked for something that cannot be done as asked (exit 2)."""


class TargetError(BadInputError):
    """The target file or the options describing the target are wrong."""


class RunbookError(BadInputError):
    """A runbook failed validation."""


class SimNotInitialisedError(BadInputError):
    """--sim was asked for but there is no simulated world yet."""


class SimCorruptError(BadInputError):
    """The simulated world's file is there but is not a usable world."""


class SimWorldGoneError(BadInputError):
    """The simulated world's file was deleted while fhirdr was using it."""


class AzureError(FhirdrError):
    """Azure answered with an error, or could not be reached, or authentication failed (exit 3)."""

    exit_code = EXIT_AZURE

    def __init__(self, message: str, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code


class AzureConnectionError(AzureError):
    """The connection to Azure failed or dropped before its answer: the request may or may not have been
    carried out, so the caller reads again to find out (azure-core does not retry a POST or PATCH)."""


class SafetyGateError(FhirdrError):
    """A safety gate refused to go on (exit 4)."""

    exit_code = EXIT_SAFETY


class InterruptedRunError(FhirdrError):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run; the journal says where (exit 130)."""

    exit_code = EXIT_INTERRUPTED


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, `kill`, a container stopped), raised where SIGINT raises
    KeyboardInterrupt, so a run stops the same way: its journal closed, resumable."""


def stopped_by(exc: BaseException) -> str:
    """How a run was stopped, in the words of its message."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"


class CheckFailedError(FhirdrError):
    """A check found problems, or a run did not reach its desired state (exit 1)."""

    exit_code = EXIT_CHECK_FAILED
