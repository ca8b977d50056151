"""Entry point for `python -m fhirdr`."""

from fhirdr.cli import main

raise SystemExit(main())
