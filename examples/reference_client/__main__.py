"""``python -m examples.reference_client`` (from the repository root): the same as client.py."""
import sys

from .client import main

sys.exit(main())
