"""The time-series role: post views and API metrics, aggregated in time buckets. InfluxDB (v1-compatible API) in
`seed`, PostgreSQL raw events plus rollups elsewhere."""

from __future__ import annotations

from typing import Protocol

from polysocial.stores.base import Store


class TimeSeriesStore(Store, Protocol):
    """Later issues add writes, trending and the metric queries here."""
