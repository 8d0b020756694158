from django.apps import AppConfig


class ErrorsConfig(AppConfig):
    name = "errors"
    verbose_name = "Errors"

    def ready(self) -> None:
        from errors.breaker_reports import breaker_opened_report
        from resilience.registry import breaker_opened_subscribe

        breaker_opened_subscribe(breaker_opened_report)
