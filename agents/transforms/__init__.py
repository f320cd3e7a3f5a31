"""Stream transforms: each turns a response's raw events into one view's events (agents/views.py
runs them). The API is in `base.py`; the built-in views are registered in `registry.py`."""
