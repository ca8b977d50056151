"""fhirdr: disaster-recovery runbooks for Azure API for FHIR."""

__version__ = "0.1.0"
