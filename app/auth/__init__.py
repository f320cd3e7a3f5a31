"""Who may do what (docs/security.md): API keys for writes (`keys.py`), signed per-response read
tokens (`tokens.py`), and the secrets kept in the data directory (`secretfile.py`)."""
