from celery import shared_task

from .streams import stream_forget


@shared_task(name="otlp.forget_streams", ignore_result=True, expires=3600)
def forget_streams() -> None:
    stream_forget()
