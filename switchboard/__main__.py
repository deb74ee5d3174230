"""`python -m switchboard ...`: the same command as the `switchboard` script."""
import sys

from switchboard.cli import main

sys.exit(main())
