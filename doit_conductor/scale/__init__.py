"""Beyond one machine: a content-addressed action cache and a Dask executor.

* `action_key`   what a cacheable task's result depends on, digested (pure);
* `cache_entry`  one cache entry's bytes: encode, and decode with verification (pure);
* `action_store` entries through fsspec (local directory, shared mount, S3, ...);
* `cached_execution`  the glue the runners call around a task's execution;
* `dask_runner`  doit's parallel runner with task execution moved to Dask.

Nothing here is imported on the no-op `doit` path, and none of it is active unless
the run selects it (`--cache`, `[tool.conductor.cache]`, `--executor dask`).
"""
