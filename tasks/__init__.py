"""This repository's own 22-task workflow (not installed).

`workflow` defines the DAG that dodo.py hands to doit; `steps` holds the task
actions, built on the installed `doit_conductor` package.
"""
