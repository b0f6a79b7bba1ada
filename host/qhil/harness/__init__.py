"""A bench run from settings to report: :class:`~qhil.harness.settings.BenchSettings` and
:func:`~qhil.harness.run.run_bench`, the library entry point that the CLI, autoquant's
device check, the Python API and the pytest plugin all use."""
