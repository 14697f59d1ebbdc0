"""doctor's benchmark suite: speed, round trips and memory against a real registry over a slow link.

``python -m bench.run`` (``make bench``) runs scenarios S1..S4 and writes ``bench/RESULTS.md``;
``bench.latency_proxy`` is the loopback delay proxy it puts in front of the registry and token server.
"""
