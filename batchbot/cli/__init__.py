"""The command line: parse options, build one Config, call the library, render the result.

`common` holds the group and what every command shares; each other module adds its commands
to the group when imported, so importing this package gives the whole CLI.
"""

from batchbot.cli import batches, reports, run, server  # noqa: F401  (they register commands)
from batchbot.cli.common import cli

__all__ = ["cli"]
