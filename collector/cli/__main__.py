"""`python -m collector.cli ...` is `pes-collector ...`."""

from collector.cli.main import main

raise SystemExit(main())
