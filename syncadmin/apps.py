from django.apps import AppConfig


class SyncAdminConfig(AppConfig):
    name = "syncadmin"
    verbose_name = "Customer sync"
    default_auto_field = "django.db.models.BigAutoField"
