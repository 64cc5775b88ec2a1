"""Command-line parsing shared by ``phnet-cam`` and the panel: a mistake is one line on stderr
with exit status 2, as every other error of the commands is."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (``PROG: error: MESSAGE (PROG
    --help lists the options)``) instead of the usage and the error; exit status 2. Its
    subcommands' parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        message = " ".join(message.split())
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} ({self.prog} --help lists the "
                  "options)\n")



def deprecated_alias(new: str) -> type[argparse.Action]:
    """The action of an option's old name: it stores its value as ``new`` does and says in one
    line on stderr that the option is now ``new``."""

    class DeprecatedAlias(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None) -> None:
            print(f"{parser.prog}: {option_string} is now {new}; the old name will go",
                  file=sys.stderr)
            setattr(namespace, self.dest, values)

    return DeprecatedAlias
