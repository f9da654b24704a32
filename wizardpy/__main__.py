"""`python -m wizardpy ...` is the `wizardpy` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
