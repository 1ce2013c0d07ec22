from celery import shared_task

from . import packing, rollups


@shared_task(name="metrics.rollup_pending", ignore_result=True, expires=30)
def rollup_pending() -> None:
    rollups.rollup_pending()


@shared_task(name="metrics.pack_points", ignore_result=True, expires=3600)
def pack_points() -> None:
    packing.points_pack()
    packing.rollups_pack()
