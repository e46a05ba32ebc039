from django.apps import AppConfig


class DjangoGearmanConfig(AppConfig):
    name = "django_gearman"
    verbose_name = "Gearman"
    # Set here, not left to each project's DEFAULT_AUTO_FIELD, so the table-less models'
    # migration fits every project.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
