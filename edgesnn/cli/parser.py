"""The argparse parser every command uses: a usage error is one ``edgesnn: ...`` line, like any other."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block before the error; one line says what and where to look
        command = self.prog.removeprefix("edgesnn").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"edgesnn: {where}{message} (see `{self.prog} --help`)\n")
