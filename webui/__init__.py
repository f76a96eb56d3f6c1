"""Kestrel: an A1111-style Stable Diffusion web UI for 4–8 GB cards and shared LAN instances.

Importing any module of this package has no side effects: no argv, no device probing, no files, no threads,
no network. All state lives in the `App` object that `app.py` builds.
"""

PRODUCT_NAME = "kestrel"
__version__ = "0.1.0"
