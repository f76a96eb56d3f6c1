"""Interrogate (CLIP and DeepBooru): engine, API and page tests."""
