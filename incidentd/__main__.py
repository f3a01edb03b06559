"""`python -m incidentd`: the same entry point as the `incidentd` console script."""

from incidentd.cli import main

raise SystemExit(main())
