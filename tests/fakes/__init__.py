"""Local fake model servers and the recorded wire formats they speak."""
