"""doctor-example-net-checks: an example doctor plugin contributing two network checks.

``check.example.dns.resolve`` resolves the host names in ``NET.Hosts``;
``check.example.tls.expiry`` inspects the certificates of ``NET.TlsEndpoints``.
The plugin object is :mod:`doctor_example_net.plugin`; this package imports nothing on purpose.
"""
