"""Every topic's messages, one module per topic: their schemas (frozen dataclasses) and their
encode/decode. Producers and consumers on both sides of Kafka import them from here.

| topic                          | module                   | message                          |
|--------------------------------|--------------------------|----------------------------------|
| `<prefix>.events`, `views.*`   | `app/events.py`          | `Event` (the readers' envelope)  |
| `<prefix>.requests`            | `requests.py`            | `Request` (its `Call`s)          |
| `<prefix>.control`             | `control.py`             | `Control` (a cancel)             |
| `<prefix>.responses` (index)   | `index.py`               | `IndexRecord` (+ app/summary.py) |
| `<prefix>.stats`               | `stats.py`               | `Partial` (an `Aggregate`)       |
| `<prefix>.deadletter`          | `deadletter.py`          | `DeadLetter` (its headers)       |
| the worker's table changelogs  | `tables.py`              | `Counted`, `Followed`            |

`app/events.py` stays where fifty modules import it from; it is this package's first member.
"""
