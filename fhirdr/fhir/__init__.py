"""The FHIR data plane: a small client on azure-core's pipeline, for canaries and probes."""
