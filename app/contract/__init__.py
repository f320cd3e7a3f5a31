"""Every topic's messages, one module per topic: their schemas (frozen dataclasses) and their
encode/decode. Producers and consumers on both sides of Kafka import them from here."""
