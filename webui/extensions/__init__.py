"""Extensions: the public versioned API (`api.py`), the loader, the hooks registry and the A1111 shim."""
