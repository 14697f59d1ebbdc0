"""The five registry checks, one module each (``credentials``, ``pull``, ``push``, ``referrers``,
``capabilities``), each exposing ``async def run(ctx) -> CheckOutcome``.

The engine imports a check module only when the check is selected (see ``doctor_oci.plugin``).
Shared pieces: ``_common`` (outcome assembly, error mapping, test-image resolution) and
``_uploads`` (upload sessions that are always cancelled).
"""
