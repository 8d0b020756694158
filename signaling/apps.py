from django.apps import AppConfig

from signaling.layer_versions import layers_check_versions


class SignalingConfig(AppConfig):
    name = "signaling"
    verbose_name = "Signaling"

    def ready(self) -> None:
        layers_check_versions()
        # Its receiver of the presence signal (which needs the models loaded).
        from signaling import receivers

        receivers.connect()
