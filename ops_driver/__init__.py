"""ops-driver: runs the operations catalog's playbooks for work requests, with dry-run evidence.

Packages by concern (see ../README.md): ``catalog`` (the operations catalog), ``request`` (work
requests), ``runner`` (ansible-runner adapter), ``evidence`` (bundles), ``policy`` (apply guards),
``sandbox`` (the embedded estate) and ``cli`` (the thin command-line layer).
"""

__version__ = "0.1.0"
