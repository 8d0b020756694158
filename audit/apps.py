from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Security audit"

    def ready(self) -> None:
        # The hooks that record what happens elsewhere: staff logins (Django's
        # auth signals are its only hook for them) and the errors both
        # boundaries report (rejected tokens, rate-limit closes).
        from audit import receivers

        receivers.connect()
