"""The directory of organisations, districts and responders, loaded from YAML and checked.

Coordinators edit the directory by hand, so `load` reports every problem at once, each as
FILE:LINE: message, and never shows more of a phone number than its masked form. The model is in
`model`, the checks in `checks`, the change history in `history`.
"""

from __future__ import annotations

import hashlib
import os

from gateway.directory.checks import SECTIONS, Checker
from gateway.directory.history import changes, snapshot
from gateway.directory.model import (
    LANGUAGES,
    ROLES,
    Directory,
    District,
    Group,
    Organisation,
    Responder,
)
from gateway.yamlcheck import Problem, compose

__all__ = [
    "LANGUAGES",
    "ROLES",
    "Directory",
    "DirectoryError",
    "District",
    "Group",
    "Organisation",
    "Problem",
    "Responder",
    "changes",
    "load",
    "snapshot",
]


class DirectoryError(ValueError):
    """The directory cannot be used; `problems` lists every reason, one per line of str()."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load(path: str | os.PathLike[str]) -> Directory:
    """Return the directory in the YAML file at path, or raise DirectoryError with every problem."""
    root, data, problem = compose(path)
    if problem:
        raise DirectoryError([problem])
    checker = Checker(str(path))
    entries = checker.run(root)
    if checker.problems or entries is None:
        raise DirectoryError(sorted(checker.problems, key=lambda p: p.line or 0))
    made = {cls: {e.values["id"]: e.build(cls) for e in entries[cls]} for cls in SECTIONS.values()}
    return Directory(
        made[Organisation],
        made[District],
        made[Responder],
        version=hashlib.sha256(data).hexdigest()[:12],
        groups=made[Group],
    )
