"""Which model search uses, which one is catching up to replace it, and each one's pull.

Imported by search/models.py. One row per model this deployment has touched
(pulled, activated, searched with). At most one row is `active` (what search
uses; none yet: the settings decide) and at most one is the `candidate` (being
embedded with every ready image; search moves to it in one transaction once it
covers the collection and has its statistics and cutoffs, see model_switch.py).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from cbir_site.choices import TextChoices


class ManagedModel(models.Model):
    class Role(TextChoices):
        NONE = "", "not in use"
        ACTIVE = "active", "active"
        CANDIDATE = "candidate", "candidate"
        RETIRED = "retired", "retired (embeddings kept for rollback until pruned)"

    class PullState(TextChoices):
        IDLE = "idle", "not pulled by this deployment"
        QUEUED = "queued", "queued"
        RUNNING = "running", "downloading"
        DONE = "done", "pulled and verified"
        FAILED = "failed", "failed"

    key = models.CharField(max_length=100, unique=True, help_text="catalogue name")
    model_name = models.CharField(
        max_length=200, unique=True, help_text="identity stored with its embeddings"
    )
    config = models.JSONField(default=dict, help_text="encoder settings that load it")
    role = models.CharField(max_length=10, choices=Role.choices, blank=True, default="")
    role_since = models.DateTimeField(null=True, blank=True)
    switch_note = models.TextField(blank=True, help_text="why a candidate is still waiting")
    pull_state = models.CharField(max_length=10, choices=PullState.choices, default="idle")
    pull_file = models.CharField(max_length=200, blank=True)
    pull_done = models.BigIntegerField(default=0)
    pull_total = models.BigIntegerField(null=True, blank=True)
    pull_message = models.TextField(blank=True)
    pull_started_at = models.DateTimeField(null=True, blank=True)
    pull_finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "search_managedmodel"
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["role"], condition=Q(role="active"), name="one_active_model"
            ),
            models.UniqueConstraint(
                fields=["role"], condition=Q(role="candidate"), name="one_candidate_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.role or 'not in use'})"
