"""`python -m agent` is `pes-agent`."""

import sys

from agent.cli import main

sys.exit(main())
