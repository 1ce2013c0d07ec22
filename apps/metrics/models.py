from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from apps.ingest.fields import MAX_ABS_NUMBER
from apps.ingest.models import PartitionedRecord, range_partitioned


class MetricType(models.TextChoices):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    TIMER = "timer"


class MetricPoint(PartitionedRecord):
    """One recorded metric point. `tags_hash` names its label set (see MetricSeries)."""

    metric_name = models.CharField(max_length=200)
    metric_type = models.CharField(max_length=16, choices=MetricType.choices)
    value = models.FloatField()
    unit = models.CharField(max_length=32, blank=True, default="")
    tags = models.JSONField(default=dict, blank=True)
    tags_hash = models.BigIntegerField()
    source = models.CharField(max_length=100, blank=True, default="")

    class Meta(PartitionedRecord.Meta):
        db_table = "metrics_metricevent"  # its name before the model was renamed
        verbose_name = "metric point"
        indexes = [
            # Raw edges of statistics/time series and minute re-rolls: index-only scans.
            models.Index(
                fields=["metric_name", "timestamp"],
                name="metric_name_ts",
                include=["value", "tags_hash"],
            ),
            # By time alone: only the purge of the legacy and default partitions. BRIN:
            # 24 KB for a day of 1.1M points against 35 MB as a B-tree (32 bytes a point).
            BrinIndex(fields=["timestamp"], name="metric_ts_brin"),
        ]
        constraints = [
            # The ingest bound, enforced where sums are taken: with |v| <= 1e18 a
            # float sum needs ~1e290 points to overflow. NaN fails it too.
            models.CheckConstraint(
                condition=models.Q(value__gte=-MAX_ABS_NUMBER, value__lte=MAX_ABS_NUMBER),
                name="metric_value_range",
            )
        ]


class PointBlock(models.Model):
    """The points of one label set of one metric in one hour, packed once the hour has
    been over two hours (apps.metrics.packing): their times and values as two arrays
    (`times`, `vals`), compressed with lz4. A day of 1.1M points as rows takes ~300
    bytes a point with its indexes; packed, ~15. Reads take them with the rows
    (`points_relation`). Each point keeps its time, value, metric, type and label set
    (its tags are its series'); its event_id, arrival time, unit and source are not
    kept. Partitioned by day on `hour` like the points, and dropped with them (the
    metric kind's retention)."""

    metric_name = models.CharField(max_length=200)
    metric_type = models.CharField(max_length=16, choices=MetricType.choices)
    tags_hash = models.BigIntegerField()
    hour = models.DateTimeField()
    count = models.IntegerField()
    # In time order, as many as `count`.
    times = ArrayField(models.DateTimeField())
    vals = ArrayField(models.FloatField())

    partition_period = "day"
    _partitioning_meta = range_partitioned("hour")

    class Meta:
        verbose_name = "packed point block"
        indexes = [models.Index(fields=["metric_name", "hour"], name="block_name_hour")]

    def __str__(self) -> str:
        return f"{self.metric_name}/{self.tags_hash} {self.hour} ({self.count} points)"


class MetricSeries(models.Model):
    """A (metric, label set) pair, so tag filters find their series without scanning points."""

    metric_name = models.CharField(max_length=200)
    tags_hash = models.BigIntegerField()
    tags = models.JSONField(default=dict)
    metric_type = models.CharField(max_length=16, choices=MetricType.choices)
    unit = models.CharField(max_length=32, blank=True, default="")
    first_seen = models.DateTimeField(auto_now_add=True, db_default=models.functions.Now())

    class Meta:
        verbose_name_plural = "metric series"
        constraints = [
            models.UniqueConstraint(fields=["metric_name", "tags_hash"], name="series_unique")
        ]
        indexes = [
            models.Index(fields=["metric_name"], name="series_name"),
        ]

    def __str__(self) -> str:
        return f"{self.metric_name}{self.tags}"


class MetricTagKey(models.Model):
    """A tag key some series of a metric has: the metric explorer lists a metric's keys
    without reading its every series (50,000 label sets took 0.27 s). Written with the
    series (apps.metrics.schemas.AFTER_INSERT)."""

    metric_name = models.CharField(max_length=200)
    tag_key = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric_name", "tag_key"], name="tag_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.metric_name}.{self.tag_key}"


class Resolution(models.TextChoices):
    MINUTE = "m", "minute"
    HOUR = "h", "hour"
    DAY = "d", "day"


class MetricRollup(models.Model):
    """count/sum/min/max and a DDSketch of one series over one bucket.

    tags_hash 0 is the metric over all its label sets, so unfiltered reads
    touch one series.
    """

    resolution = models.CharField(max_length=1, choices=Resolution.choices)
    metric_name = models.CharField(max_length=200)
    tags_hash = models.BigIntegerField()
    bucket_start = models.DateTimeField()
    count = models.BigIntegerField()
    sum = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()
    sketch_keys = ArrayField(models.IntegerField())
    sketch_counts = ArrayField(models.BigIntegerField())

    class Meta:
        constraints = [
            # Upserts of re-rolled buckets; reads and re-rolls take a bucket range
            # of one metric and resolution, so tags_hash comes last.
            models.UniqueConstraint(
                fields=["metric_name", "resolution", "bucket_start", "tags_hash"],
                name="rollup_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric_name}/{self.tags_hash} {self.resolution} {self.bucket_start}"


class RollupBlock(models.Model):
    """The rollups of one label set of one metric at one resolution, packed a bucket one
    level coarser a row once that bucket is over (apps.metrics.rollup_blocks): the
    minutes of an hour, or the hours of a day. Each bucket's figures are arrays in time order
    (`offsets`: minutes into the hour, or hours into the day), the buckets' sketches one
    after another in `keys`/`key_counts` (bucket i's end at `ends[i]`), compressed with
    lz4. A minute row costs ~200 bytes and ~90 of index, packed ~50; an hour row ~1,200,
    packed ~380. Reads take them with the rows; a re-roll of a packed bucket (a late
    point) turns its block back into rows first."""

    resolution = models.CharField(max_length=1, choices=Resolution.choices)
    metric_name = models.CharField(max_length=200)
    tags_hash = models.BigIntegerField()
    block_start = models.DateTimeField()  # the hour (minutes) or day (hours) packed
    offsets = ArrayField(models.SmallIntegerField())  # ascending
    counts = ArrayField(models.BigIntegerField())
    sums = ArrayField(models.FloatField())
    mins = ArrayField(models.FloatField())
    maxs = ArrayField(models.FloatField())
    ends = ArrayField(models.IntegerField())
    keys = ArrayField(models.IntegerField())
    key_counts = ArrayField(models.BigIntegerField())

    class Meta:
        verbose_name = "packed rollups"
        verbose_name_plural = "packed rollups"
        constraints = [
            # A block's buckets are packed or rows, never both (rollup_blocks).
            models.UniqueConstraint(
                fields=["metric_name", "resolution", "block_start", "tags_hash"],
                name="rollup_block_unique",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.metric_name}/{self.tags_hash} {self.resolution} {self.block_start} "
            f"({len(self.offsets)} buckets)"
        )


class DirtyMinute(models.Model):
    """A minute whose points changed since it was rolled up.

    Written in the same statement that inserts the points; the roller claims
    committed marks, so a point that commits late leaves its own mark.
    """

    metric_name = models.CharField(max_length=200)
    bucket_start = models.DateTimeField()

    class Meta:
        # The oldest dirty minute of a metric bounds what reads may take from rollups.
        indexes = [models.Index(fields=["metric_name", "bucket_start"], name="dirty_name_bucket")]

    def __str__(self) -> str:
        return f"{self.metric_name} {self.bucket_start}"


class RollupFailure(models.Model):
    """A (metric, minute) the roller could not roll: parked so every other minute still rolls.

    Reads take a parked minute from raw points (like a dirty one) and never use
    the hour or day holding it. Retrying (admin action) marks it dirty again.
    """

    metric_name = models.CharField(max_length=200)
    bucket_start = models.DateTimeField()
    error = models.TextField()
    failed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric_name", "bucket_start"], name="failure_unique")
        ]

    def __str__(self) -> str:
        return f"{self.metric_name} {self.bucket_start}"
