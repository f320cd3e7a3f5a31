"""Runnable examples of jobs outside tokenrelay (`python -m examples.<name>` from the checkout)."""
