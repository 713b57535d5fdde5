"""What codegen needs from the config (task 7 writes it as codegen-settings.json).

Its own module so that writing a pattern's files from the action cache
(`restore`) does not import the renderer and jinja2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """What codegen needs from the config (written by task 7 as codegen-settings.json)."""

    templates_dir: str
    output_dir: str
    cache_dir: str
    sandbox: bool
    line_length: int
    validators: dict[str, str]
    checks: dict[str, str]
    kinds_digest: str
    cache_max_entries: int
    cache_max_bytes: int
    template_cache: bool = True
    state_version: int = 0
    limits: dict = dataclasses.field(default_factory=dict)   # RenderLimits as JSON
    # False: compile and check every generated file on every run (the review's
    # "no incremental compilation"); the workflow then runs every sub-task.
    incremental: bool = True

    @property
    def checks_digest(self) -> str:
        """What a generated file is checked against (the line length, the
        validators and quality-check commands): a file whose bytes are unchanged
        is still checked again when this moved since it last passed."""
        from doit_conductor.codegen.batches import digest
        return digest([self.line_length, self.validators, self.checks])
