"""The one boundary where azure-core's exceptions become fhirdr errors with exit 3 and a hint."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from fhirdr.azure.session import azure_errors
from fhirdr.errors import EXIT_AZURE, AzureError


@pytest.mark.parametrize(
    ("raised", "message", "hint"),
    [
        (
            ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token\nmore"),
            "authentication failed while reading x: DefaultAzureCredential failed to retrieve a token",
            "az login",
        ),
        (
            ServiceRequestError("Connection refused"),
            "could not reach Azure while reading x: Connection refused",
            "completed steps are kept",
        ),
    ],
)
def test_sdk_errors_become_azure_errors_with_a_hint(raised, message, hint):
    with pytest.raises(AzureError) as error, azure_errors("reading x"):
        raise raised
    assert error.value.exit_code == EXIT_AZURE
    assert error.value.message == message
    assert hint in error.value.hint
