"""doctor-example-prometheus-reporter: an example doctor plugin adding ``--format prometheus``.

The plugin object is :mod:`doctor_example_prometheus.plugin`; the rendering lives in
:mod:`doctor_example_prometheus.exposition`. This package imports nothing on purpose.
"""
