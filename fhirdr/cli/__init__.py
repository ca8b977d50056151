"""The fhirdr command line."""

from __future__ import annotations


def main() -> int:
    from fhirdr.cli.app import app

    return app(prog_name="fhirdr") or 0
