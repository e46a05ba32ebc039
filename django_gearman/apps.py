from django.apps import AppConfig


class DjangoGearmanConfig(AppConfig):
    name = "django_gearman"
    verbose_name = "Gearman"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
