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
import shutil
from pathlib import Path

from tasks.steps import artifacts


def remove_targets(task, dryrun: bool = False) -> None:
    """doit clean action: the task's targets, then the folders they leave empty."""
    root = Path.cwd().resolve()
    emptied: set[Path] = set()
    # the digests `TargetsIntact` keeps of a task's targets go with them
    made = [*task.targets, artifacts.published_ledger(task.name)]
    for target in sorted(made, reverse=True):
        path = Path(target)
        if path.is_file() or path.is_symlink():
            print(f"{task.name} - removing file '{target}'")
            if not dryrun:
                path.unlink()
        elif path.is_dir():
            print(f"{task.name} - removing dir '{target}'")
            if not dryrun:
                shutil.rmtree(path)
        else:
            continue
        emptied.add(path.parent)
    if dryrun:
        return
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        remove_empty_folders(folder, root)


def remove_empty_folders(folder: Path, root: Path) -> None:
    """`folder` and its parents while empty, stopping below `root`."""
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            os.rmdir(folder)  # only succeeds on an empty folder
        except OSError:
            return
        folder = folder.parent
