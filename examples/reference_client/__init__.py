"""The Ségur Sandbox's reference LPS client, driven by the conformance runner (docs/client-task.md).

Run it with ``python examples/reference_client/client.py`` or ``python -m examples.reference_client``; see
README.md in this folder.
"""
