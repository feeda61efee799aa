from django.apps import AppConfig


class SyncAdminConfig(AppConfig):
    name = "syncadmin"
    verbose_name = "Customer sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from syncadmin.tasks import follow_up_after_a_worker_death

        post_spawn.connect(follow_up_after_a_worker_death, dispatch_uid="syncadmin-follow-up")
