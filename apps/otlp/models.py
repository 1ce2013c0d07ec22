from django.db import models


class CumulativeStream(models.Model):
    """The last point of one cumulative OTLP stream (a sum's or a histogram's), so the next
    point becomes a delta. A stream is a metric's series from one start time: a process
    restart starts a new stream (counted from zero, never negative), and processes
    sharing a label set keep streams of their own.

    Grows by one row per stream; rows not seen for OTLP_STREAM_RETENTION_DAYS are
    deleted by `stream_forget` (beat: `otlp-forget-streams`).
    """

    key = models.CharField(max_length=64, primary_key=True)  # blake2b of name, tags, start
    time_unix_nano = models.BigIntegerField()
    state = models.JSONField()  # {"value": x} or a histogram's count, sum and buckets
    updated_at = models.DateTimeField(db_index=True)  # stream_forget's range

    def __str__(self) -> str:
        return self.key
