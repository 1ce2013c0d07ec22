"""MetricEvent is called MetricPoint; its table keeps its name (no rewrite of the points)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0002_value_range_and_rollup_failures"),
    ]

    operations = [
        migrations.AlterModelTable(name="metricevent", table="metrics_metricevent"),
        migrations.RenameModel(old_name="MetricEvent", new_name="MetricPoint"),
    ]
