"""Run defaults, in a module of their own so that ``doctor list`` and ``--help`` can show them
without importing the engine (and asyncio, ssl, threading behind it)."""

DEFAULT_CONCURRENCY = 8
DEFAULT_DEADLINE_S = 300.0
DEFAULT_TIMEOUT_FACTOR = 3.0
