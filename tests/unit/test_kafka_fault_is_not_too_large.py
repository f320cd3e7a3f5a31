"""A Kafka fault that is not a size refusal is not `too_large`: the check named a librdkafka
code that does not exist (`KafkaError._MSG_SIZE_TOO_LARGE`), so every other KafkaException
reaching it raised AttributeError, a 500 where the edge answers 503 (found by mypy --strict)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from app.producer import too_large


def test_a_timeout_is_not_too_large() -> None:
    assert too_large(KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT))) is False


def test_a_size_refusal_is_too_large() -> None:
    assert too_large(KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))) is True


def test_anything_else_is_not() -> None:
    assert too_large(TimeoutError()) is False
    assert too_large(KafkaException()) is False
