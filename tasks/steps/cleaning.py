"""`doit clean` for this workflow: remove what a task made, and nothing else.

doit's `clean: True` removes a task's target files, refuses a target
directory that has files in it (`plan-codegen - cannot remove (it is not
empty) '.conductor/state/batches'`), and leaves the folders the files
were written into, so a cleaned checkout kept an empty `output/` tree.
`remove_targets` removes the targets, a target directory with what is in it
(the task wrote all of it), then every folder that removal left empty, up to
the project directory.
"""
from __future__ import annotations

import os

from doit_conductor import safe_fs
from doit_conductor.errors import UserError
from doit_conductor.glue.actions import user_action

from tasks.steps import artifacts


@user_action
def remove_targets(task, dryrun: bool = False) -> None:
    """doit clean action: the task's targets, then the folders they leave empty.

    Nothing is removed through a link: a target inside a linked directory (an
    `output` link) is refused with one line, a target that is itself a link is
    removed as the link, and a directory is emptied without entering links."""
    emptied: set[str] = set()
    refused: UserError | None = None   # the first target below a link; the others still go
    # the digests `TargetsIntact` keeps of a task's targets go with them
    made = [*task.targets, artifacts.published_ledger(task.name)]
    for target in sorted(made, reverse=True):
        path = os.path.normpath(target)
        try:
            info = safe_fs.lstat(path)
        except UserError as exc:
            refused = refused or exc
            continue
        if info is None:
            continue
        if safe_fs.kind_of(info.st_mode) == safe_fs.DIRECTORY:
            print(f"{task.name} - removing dir '{target}'")
        else:
            print(f"{task.name} - removing file '{target}'")
        if not dryrun:
            safe_fs.remove(path)
        emptied.add(os.path.dirname(path))
    if not dryrun:
        for folder in sorted(emptied, key=lambda p: p.count(os.sep), reverse=True):
            remove_empty_folders(folder)
    if refused is not None:
        raise refused


def remove_empty_folders(folder: str) -> None:
    """`folder` and its parents while empty, stopping below the project directory."""
    while folder and folder not in (".", os.sep) and not os.path.isabs(folder) \
            and not folder.startswith(".."):
        if not safe_fs.rmdir(folder):
            return
        folder = os.path.dirname(folder)
