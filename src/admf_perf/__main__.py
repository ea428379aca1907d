"""``python -m admf_perf``: the ``admf-perf`` command."""
import sys

from .cli import main

sys.exit(main())
