from django.db import models


class Heartbeat(models.Model):
    """When a background process last showed it was at work: the scheduler writes its own
    after its jobs, and ``/healthz/jobs`` says when it is old (a scheduler dead, or stuck).
    Not shown to staff, so not translated."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M:%S}"
